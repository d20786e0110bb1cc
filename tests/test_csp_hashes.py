"""Hash mode: 'sha256-…' sources for the inline blocks of complete HTML bodies."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import webtest

from headerware import ResponseHead
from headerware.csp_hashes import add_hashes, add_sources, inline_hashes
from headerware.layers.csp import ContentSecurityPolicy

CSP = "Content-Security-Policy"
SCRIPT = "document.body.dataset.ok = 'yes';"
STYLE = "p { color: green }"
PAGE = (
    f"<!doctype html><title>t</title><style>{STYLE}</style>"
    f"<script>{SCRIPT}</script>"
    '<script src="/app.js"></script>'
    "<SCRIPT type='module'>import './m.js'</SCRIPT>"
).encode()


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def page_app(body: Any = (PAGE,), content_type: str = "text/html; charset=utf-8", **kw: str) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", content_type), *kw.items()])
        return body() if callable(body) else body

    return app


def get(app: Any, **options: Any) -> webtest.TestResponse:
    options.setdefault("hash_inline", True)
    options.setdefault("nonce_directives", ())
    return webtest.TestApp(ContentSecurityPolicy(app, **options), lint=True).get("/")


def directive(header: str, name: str) -> list[str]:
    for part in header.split(";"):
        words = part.split()
        if words and words[0] == name:
            return words[1:]
    raise AssertionError(f"{name} not in {header}")


def test_inline_blocks_hashed_into_the_header() -> None:
    response = get(page_app())
    header = response.headers["Content-Security-Policy"]
    scripts = directive(header, "script-src")
    assert scripts == ["'self'", sha256(SCRIPT), sha256("import './m.js'")]
    assert directive(header, "style-src") == ["'self'", sha256(STYLE)]
    assert "'unsafe-inline'" not in header
    assert response.body == PAGE  # the body is not changed
    assert "private" not in response.headers.get("Cache-Control", "")  # no nonce: cacheable


def test_streamed_response_untouched() -> None:
    def stream() -> Iterator[bytes]:
        yield PAGE

    streamed = get(page_app(stream)).headers["Content-Security-Policy"]
    assert "sha256-" not in streamed
    assert streamed == get(page_app(), hash_inline=False).headers["Content-Security-Policy"]


def test_off_by_default() -> None:
    response = webtest.TestApp(ContentSecurityPolicy(page_app())).get("/")
    assert "sha256-" not in response.headers["Content-Security-Policy"]


def test_with_the_nonce_both_are_sent() -> None:
    header = get(page_app(), nonce_directives=("script-src",)).headers["Content-Security-Policy"]
    scripts = directive(header, "script-src")
    assert scripts[0] == "'self'" and scripts[1].startswith("'nonce-")
    assert sha256(SCRIPT) in scripts


def test_inherited_directive_written_out_and_none_kept() -> None:
    policy = {"default-src": ["'self'"], "style-src": ["'none'"]}
    header = get(page_app(), policy=policy).headers["Content-Security-Policy"]
    assert directive(header, "script-src")[:2] == ["'self'", sha256(SCRIPT)]
    assert directive(header, "style-src") == ["'none'"]  # an explicit 'none' stays


def test_report_only_policy_gets_them_too() -> None:
    response = get(page_app(), report_only_policy={"default-src": ["'none'"]})
    trial = response.headers["Content-Security-Policy-Report-Only"]
    assert directive(trial, "script-src") == [sha256(SCRIPT), sha256("import './m.js'")]


@pytest.mark.parametrize(
    ("app", "name"),
    [
        pytest.param(page_app(content_type="text/plain"), "content-security-policy", id="text"),
        pytest.param(
            page_app(**{"Content-Security-Policy": "script-src 'none'"}),
            "content-security-policy",
            id="app-policy",
        ),
    ],
)
def test_not_hashed(app: Any, name: str) -> None:
    response = get(app)
    assert "sha256-" not in response.headers["Content-Security-Policy"]


def test_app_policy_kept_as_is() -> None:
    response = get(page_app(**{"Content-Security-Policy": "script-src 'none'"}))
    assert response.headers["Content-Security-Policy"] == "script-src 'none'"


def test_encoded_body_not_looked_at() -> None:
    head = ResponseHead("200 OK", [("Content-Encoding", "gzip"), (CSP, "script-src 'self'")])
    add_hashes(head, [PAGE])
    assert head.get("content-security-policy") == "script-src 'self'"
    head = ResponseHead("200 OK", [(CSP, "script-src 'self'")])
    add_hashes(head, [PAGE])
    assert sha256(SCRIPT) in head.get("content-security-policy", "")


def test_inline_hashes_and_add_sources_units() -> None:
    found = inline_hashes(
        b"<script >a</script ><script\nsrc=x>b</script><style media='x>'>c</style>"
    )
    assert found == {"script-src": [sha256("a")], "style-src": [sha256("c")]}
    assert inline_hashes(b"<script>a</script>" * 3) == {
        "script-src": [sha256("a")],
        "style-src": [],
    }
    assert add_sources("default-src 'none'; img-src 'self'", found) == (
        f"default-src 'none'; img-src 'self'; script-src {sha256('a')}; style-src {sha256('c')}"
    )
    assert add_sources("img-src 'self'", found) == "img-src 'self'"  # unrestricted stays
