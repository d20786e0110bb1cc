"""The documentation stands alone and says what the code does (issue 15 items 8, 9).

* Every relative file path or link in README.md, in docs/ and in the examples'
  docstrings and comments names a file or folder of the repository.
* The route table of docs/examples.md is the examples contract: every row is sent to
  the Flask, the bare WSGI, the Django and the ASGI (Starlette) example, in process.
* The README shows examples/headerware.toml in full, names every fixture of the
  pytest plugin (and its testing example runs), lists every top-level folder in its
  layout, and names no framework that no example covers.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import webtest

import headerware.testing
from tests.asgi_client import ASGITestApp

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CONTRACT = ROOT / "docs" / "examples.md"

#: Files whose module docstring (Python) or comments (TOML, INI) are the examples' docs.
EXAMPLE_SOURCES = sorted(
    [
        *ROOT.glob("examples/*.py"),
        *ROOT.glob("examples/django_app/*.py"),
        ROOT / "examples" / "headerware.toml",
        ROOT / "examples" / "paste.ini",
    ]
)

#: A word names a file when it is a relative path: a lower-case folder name, a slash.
#: Top-level media types: ``text/html`` and friends are not paths.
_MEDIA_TYPES = {"text", "application", "image", "audio", "video", "font", "multipart"}
_PATH_WORD = re.compile(r"[A-Za-z0-9_.][\w.*-]*(?:/[\w.*-]+)*/?")


# -- files the documentation names ----------------------------------------------------


def _section(text: str, title: str) -> str:
    """The body of the ``## title`` section of a Markdown text."""
    parts = re.split(r"^## ", text, flags=re.MULTILINE)
    for part in parts:
        heading, _, body = part.partition("\n")
        if heading.strip() == title:
            return body
    raise AssertionError(f"no section {title!r}")


def _code_words(text: str) -> list[str]:
    """The words of every code span and code block: candidates for file paths."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    spans = re.findall(r"``([^`]+)``", prose) + re.findall(r"(?<!`)`([^`\n]+)`(?!`)", prose)
    words = []
    for chunk in [*blocks, *spans]:
        for raw in re.split(r"[\s'\"(),=\[\]{}]+", chunk):
            words.append(raw.rstrip(".:;").split("#", 1)[0])
    return words


def _looks_like_file(word: str) -> bool:
    if not word or "://" in word or "$" in word or not _PATH_WORD.fullmatch(word):
        return False
    if "*" in word:  # a path pattern (``/api/*``, ``tests/test_examples*.py``)
        return False
    # a folder name is lower case (``PUT/POST``, ``Browser/1.0`` are not paths)
    first = word.split("/", 1)[0].lstrip(".")
    if "/" not in word or not first.islower() or first in _MEDIA_TYPES:
        return False
    return first.replace("_", "").replace("-", "").isalnum()


def _links(text: str) -> list[str]:
    """Relative Markdown link targets (no URLs, no in-page anchors)."""
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    return [t.split("#", 1)[0] for t in targets if "://" not in t and not t.startswith("#")]


def _inside(path: Path) -> bool:
    """``path`` exists and is inside the repository (``../shared/x`` is not)."""
    resolved = path.resolve()
    return resolved.exists() and resolved.is_relative_to(ROOT)


def _exists(word: str, base: Path, *, link: bool = False) -> bool:
    """A link resolves from its document's folder; a path word from there or the root."""
    return any(_inside(where / word) for where in ((base,) if link else (base, ROOT)))


def _documents() -> list[tuple[str, str, Path]]:
    """``(name, text, base folder)`` of README.md, docs/*.md and the examples' docs."""
    readme = README.read_text()
    # The layout block names files relative to their folder: checked on its own below.
    readme = readme.replace(_section(readme, "Layout"), "")
    found = [("README.md", readme, ROOT)]
    found += [(str(p.relative_to(ROOT)), p.read_text(), p.parent) for p in ROOT.glob("docs/*.md")]
    for source in EXAMPLE_SOURCES:
        text = source.read_text()
        if source.suffix == ".py":
            doc = ast.get_docstring(ast.parse(text)) or ""
        else:
            doc = "\n".join(line for line in text.splitlines() if line.lstrip()[:1] in "#;")
        # docstrings and comments cite paths as plain words too, not only as code
        doc = " ".join(f"`{word}`" for word in doc.replace("`", " ").split())
        found.append((str(source.relative_to(ROOT)), doc, source.parent))
    return found


def _named(text: str) -> set[tuple[str, bool]]:
    """``(path, is a link)`` of every file ``text`` names."""
    words = {(w, False) for w in _code_words(text) if _looks_like_file(w)}
    return words | {(target, True) for target in _links(text)}


def _named_files() -> list[Any]:
    params = []
    for name, text, base in _documents():
        params += [
            pytest.param(word, base, link, id=f"{name}:{word}")
            for word, link in sorted(_named(text))
        ]
    return params


@pytest.mark.parametrize(("path", "base", "link"), _named_files())
def test_every_file_the_docs_name_exists(path: str, base: Path, link: bool) -> None:
    assert _exists(path, base, link=link), f"{path} is named in the docs but not in the repository"


def test_the_scan_sees_the_references_it_must_check() -> None:
    named = {p.values[0] for p in _named_files()}
    # the ones issue 15 item 8 was about, and links of the contract page
    assert {"docs/examples.md", "examples/headerware.toml", "../examples/flask_app.py"} <= named
    assert not any("DESIGN.md" in word for word in named)
    for probe in ("shared/DESIGN.md", "examples/no_such.py", "headerware/contrib"):
        assert _looks_like_file(probe)
    assert _looks_like_file(".ci/run")
    unlike = ("text/html", "application/json", "/api/*", "examples.flask_app:app", "PUT/POST")
    for probe in unlike:
        assert not _looks_like_file(probe)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("cites `shared/DESIGN.md` for the routes", id="code-span"),
        pytest.param("see [the design](../shared/DESIGN.md)", id="link"),
        pytest.param("```sh\ngunicorn --paste 'examples/nope.ini#toml'\n```\n", id="block"),
    ],
)
def test_a_missing_file_is_caught(text: str) -> None:
    named = _named(text)
    assert named and not all(_exists(word, ROOT / "docs", link=link) for word, link in named)


# -- the route table of docs/examples.md ------------------------------------------------


@dataclass
class Row:
    """One row of the route table."""

    line: int
    method: str
    path: str
    before: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    status: int = 200
    text: str | None = None
    json: Any = None
    has_json: bool = False
    expect_headers: dict[str, str] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)


_SPAN = re.compile(r"`([^`]+)`")
_REQUEST = re.compile(r"(GET|HEAD|POST|PUT|DELETE|PATCH|OPTIONS) (/\S*)")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _row(number: int, cells: list[str]) -> Row:
    request, sent_with, status, body, response_headers = cells
    match = _REQUEST.fullmatch(_SPAN.fullmatch(request).group(1))  # type: ignore[union-attr]
    assert match, request
    row = Row(number, match.group(1), match.group(2), status=int(status))
    for item in _SPAN.findall(sent_with):
        if (before := _REQUEST.fullmatch(item)) and before.group(1) == "GET":
            row.before.append(before.group(2))
        elif ": " in item:
            name, _, value = item.partition(": ")
            row.headers[name] = value
        else:
            key, sep, value = item.partition("=")
            assert sep, f"line {number}: cannot read {item!r}"
            row.form[key] = value
    if body.startswith("JSON "):
        row.json, row.has_json = json.loads(_SPAN.fullmatch(body[5:]).group(1)), True  # type: ignore[union-attr]
    elif spans := _SPAN.fullmatch(body):
        row.text = spans.group(1)
    for item in _SPAN.findall(response_headers):
        if item.startswith("no "):
            row.absent.append(item[3:])
        else:
            name, _, value = item.partition(": ")
            row.expect_headers[name] = value
    return row


def contract_rows() -> list[Row]:
    lines = CONTRACT.read_text().splitlines()
    start = lines.index("## Routes")
    header = next(i for i in range(start, len(lines)) if lines[i].startswith("| request |"))
    rows = []
    for number in range(header + 2, len(lines)):
        if not lines[number].startswith("|"):
            break
        rows.append(_row(number + 1, _cells(lines[number])))
    return rows


ROWS = contract_rows()


def test_the_table_covers_every_route() -> None:
    assert len(ROWS) >= 30
    paths = {row.path for row in ROWS}
    routes = {"/", "/page", "/custom-header", "/set-cookie", "/get-cookie", "/delete-cookie"}
    routes |= {"/login", "/dashboard", "/data", "/hello", "/api/protected", "/preferences"}
    assert routes <= paths
    assert any(p.startswith("/set-theme/") for p in paths)


@pytest.fixture(scope="module", params=["flask_app", "wsgi_app", "django_app", "asgi_app"])
def example(request: pytest.FixtureRequest) -> Iterator[webtest.TestApp]:
    module = __import__(f"examples.{request.param}", fromlist=["app"])
    if request.param != "asgi_app":
        yield webtest.TestApp(module.app, lint=True)
        return
    client = ASGITestApp(module.app)  # WebTest's interface over httpx's ASGI transport
    yield client
    client.close()


def _vary(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",") if token.strip()}


@pytest.mark.parametrize("row", [pytest.param(r, id=f"{r.line}-{r.method}-{r.path}") for r in ROWS])
def test_the_examples_answer_as_the_contract_says(example: webtest.TestApp, row: Row) -> None:
    example.reset()
    for path in row.before:
        example.get(path)
    extra: dict[str, Any] = {}
    if row.form:
        extra = {
            "body": urlencode(row.form).encode(),
            "content_type": "application/x-www-form-urlencoded",
        }
    response = example.request(
        row.path, method=row.method, headers=row.headers, expect_errors=True, **extra
    )
    where = f"docs/examples.md line {row.line}"
    assert response.status_int == row.status, (where, response.status, response.text[:200])
    if row.text is not None:
        assert response.text == row.text, where
    if row.has_json:
        assert response.json == row.json, where
    for name, value in row.expect_headers.items():
        sent = response.headers.get(name)
        assert sent is not None, (where, f"no {name}")
        if name.lower() == "vary":
            assert _vary(value) <= _vary(sent), (where, sent)
        else:
            assert sent == value, (where, name, sent)
    for name in row.absent:
        assert name not in response.headers, (where, name)


# -- the README ---------------------------------------------------------------------------


def test_readme_shows_the_example_configuration_in_full() -> None:
    section = _section(README.read_text(), "Configuration file (TOML)")
    blocks = re.findall(r"^```toml\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    assert (ROOT / "examples" / "headerware.toml").read_text() in blocks


def test_the_data_route_allows_only_get_cross_origin() -> None:
    """``/data`` is GET-only: its CORS rule offers no other method (issue 15 item 9)."""
    from headerware.config import read_toml

    rules = read_toml(ROOT / "examples" / "headerware.toml")["cors"]["rules"]
    assert rules["/data"]["allow_methods"] == ["GET"]
    paste = (ROOT / "examples" / "paste.ini").read_text()
    data_rule = re.search(r'"/data": \{(.*?)\}', paste, flags=re.DOTALL)
    assert data_rule and '"allow_methods": ["GET"]' in data_rule.group(1)


def _plugin_fixtures() -> set[str]:
    return {name for name in vars(headerware.testing) if name.startswith("headerware_")}


def test_readme_names_every_fixture_of_the_plugin() -> None:
    fixtures = _plugin_fixtures()
    assert fixtures == {
        "headerware_config",
        "headerware_wsgi_app",
        "headerware_app",
        "headerware_testapp",
        "headerware_browser",
    }
    section = _section(README.read_text(), "Testing your app")
    named = set(re.findall(r"`(headerware_\w+)", section))
    assert named == fixtures


def test_readme_testing_example_runs(tmp_path: Path) -> None:
    section = _section(README.read_text(), "Testing your app")
    block = re.search(r"^```python\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    assert block
    conftest, _, tests = block.group(1).partition("# test_security.py\n")
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "test_security.py").write_text(tests)
    (tmp_path / "headerware.toml").write_text("[security_headers]\n[csp]\n[csrf]\n")
    (tmp_path / "myproject.py").write_text(
        "def wsgi_app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'ok']\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_readme_layout_lists_every_top_level_folder() -> None:
    layout = _section(README.read_text(), "Layout")
    listed = set(re.findall(r"^(\S+/)", layout, flags=re.MULTILINE))
    folders = {
        f"{p.name}/"
        for p in ROOT.iterdir()
        if p.is_dir()
        and not p.name.startswith(".")
        and not p.name.endswith(".egg-info")
        and p.name not in ("__pycache__", "build", "dist", "node_modules")
    }
    assert folders <= listed
    assert all((ROOT / name).is_dir() for name in listed)
    for nested in ("django_app/", "contrib/", "layers/", "stores/", "core/"):
        assert nested in layout
    assert (ROOT / "examples" / "django_app").is_dir() and (
        ROOT / "headerware" / "contrib"
    ).is_dir()


#: WSGI frameworks the README might claim; each needs an example that passes the contract.
OTHER_FRAMEWORKS = ("Pyramid", "Falcon", "Bottle", "CherryPy", "web2py", "TurboGears", "Tornado")


@pytest.mark.parametrize("framework", OTHER_FRAMEWORKS)
def test_readme_claims_only_frameworks_a_test_covers(framework: str) -> None:
    covered = (ROOT / "examples" / f"{framework.lower()}_app").exists() or (
        ROOT / "examples" / f"{framework.lower()}_app.py"
    ).exists()
    assert covered or framework.lower() not in README.read_text().lower()
