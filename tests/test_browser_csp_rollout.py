"""The CSP roll-out, end to end, in headless Chromium and with the README's commands.

``examples/csp_rollout.py`` is served by gunicorn on 127.0.0.1, wrapped by a copy of
``examples/csp_rollout.toml`` (the strict default policy, report-only, the receiver
on, its SQLite file in a tmp dir); ``examples/csp_rollout_assets`` is the second
origin (``python -m http.server`` on another port). The page loads ``lib.js`` and
``theme.css`` from there and runs one inline script with the nonce; the test also
injects an inline script without the nonce, as stray code would.

1. report-only: everything runs, Chromium sends ``report-uri`` reports
   (``application/csp-report``, sent at once; ``report-to`` is HTTPS-only in the layer
   and the Reporting API batches its deliveries) and the receiver stores them;
2. ``headerware csp report`` lists them; ``headerware csp suggest --write`` adds the
   second origin to ``script-src`` and ``style-src`` and flags the inline script;
3. promote: ``check-config --db`` warns only about that inline script, then the
   ``report_only = true`` line is deleted (the README's promote step);
4. enforcing: the page loads with zero violations and zero console errors, the
   second origin's script ran and its stylesheet applied, and an inline script
   injected afterwards is blocked.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import CHROMIUM, PYTHON, ROOT, free_port, launch_chromium, serving

pytestmark = pytest.mark.browser

if shutil.which(CHROMIUM) is None:  # pragma: no cover - CI installs it
    if os.environ.get("CI"):
        raise RuntimeError("CI must install Debian's chromium (apt-get install chromium)")
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")

EXAMPLE_TOML = ROOT / "examples" / "csp_rollout.toml"
ASSETS = ROOT / "examples" / "csp_rollout_assets"
GREEN = "rgb(0, 128, 0)"

#: Runs before the page's scripts: every violation event and console error is kept.
LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push({directive: e.effectiveDirective, blocked: e.blockedURI,
                            disposition: e.disposition});
});
"""
#: An inline script without the nonce (and a hash the policy does not know).
INJECT = """
() => {
  const script = document.createElement("script");
  script.textContent = "document.body.dataset.injected = 'ran';";
  document.body.appendChild(script);
}
"""


def headerware(*args: str) -> subprocess.CompletedProcess[str]:
    """One of the README's ``headerware`` commands, as a subprocess."""
    return subprocess.run(
        [PYTHON, "-m", "headerware", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def stored(db: Path) -> list[tuple[str, str, str]]:
    """``(directive, blocked, disposition)`` of each stored violation."""
    if not db.exists():
        return []
    connection = sqlite3.connect(db, timeout=5)
    try:
        rows = connection.execute("SELECT directive, blocked, disposition FROM violations")
        return [tuple(row) for row in rows]
    except sqlite3.OperationalError:  # created, table not yet written
        return []
    finally:
        connection.close()


def wait_for(db: Path, expected: set[tuple[str, str, str]], seconds: float = 20.0) -> None:
    """Poll the store until ``expected`` is in it (Chromium reports asynchronously)."""
    deadline = time.monotonic() + seconds
    while not expected <= set(stored(db)):
        if time.monotonic() > deadline:
            raise AssertionError(f"reports not stored in {seconds}s: {stored(db)}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        instance = launch_chromium(playwright)
        yield instance
        instance.close()


@pytest.fixture()
def assets() -> Iterator[str]:
    port = free_port()
    args = [PYTHON, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with serving([*args, "--directory", str(ASSETS)], port):
        yield f"http://127.0.0.1:{port}"


class Site:
    """The example under gunicorn, wrapped by the configuration at ``config``."""

    def __init__(self, config: Path, assets: str) -> None:
        self.config = config
        self.assets = assets
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def serve(self) -> Any:
        args = [PYTHON, "-m", "gunicorn", "-b", f"127.0.0.1:{self.port}", "-w", "1"]
        env = {"HEADERWARE_CONFIG": str(self.config), "CSP_ROLLOUT_ASSETS": self.assets}
        return serving([*args, "examples.csp_rollout:app"], self.port, env=env, timeout=30)


def load(browser: Any, url: str) -> tuple[Any, Any, list[str], dict[str, str]]:
    """A fresh context on ``url``: the page, its context, console errors, the CSP headers."""
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.add_init_script(LISTEN)
    response = page.goto(url + "/")
    assert response is not None and response.status == 200
    page.wait_for_load_state("load")
    sent = {k: v for k, v in response.all_headers().items() if "content-security" in k}
    return page, context, errors, sent


def test_report_suggest_promote_enforce(browser: Any, assets: str, tmp_path: Path) -> None:
    db = tmp_path / "reports.sqlite3"
    config = tmp_path / "csp_rollout.toml"
    text = EXAMPLE_TOML.read_text(encoding="utf-8")
    assert 'report_db = "csp-rollout.sqlite3"' in text and "report_only = true\n" in text
    config.write_text(text.replace('"csp-rollout.sqlite3"', json.dumps(str(db))), "utf-8")
    site = Site(config, assets)
    script = ("script-src-elem", assets, "report")
    style = ("style-src-elem", assets, "report")
    inline = ("script-src-elem", "inline", "report")

    # 1. Report-only: nothing is blocked, everything is reported.
    with site.serve():
        page, context, _, sent = load(browser, site.url)
        assert list(sent) == ["content-security-policy-report-only"]
        assert "report-uri /_headerware/csp-report" in sent["content-security-policy-report-only"]
        assert page.evaluate("document.body.dataset.lib") == "ran"
        assert page.evaluate("document.body.dataset.inline") == "ran"
        assert page.evaluate("getComputedStyle(document.getElementById('styled')).color") == GREEN
        page.evaluate(INJECT)
        assert page.evaluate("document.body.dataset.injected") == "ran"  # report-only
        seen = page.evaluate("window.__violations")
        assert {(v["directive"], v["disposition"]) for v in seen} == {
            ("script-src-elem", "report"),
            ("style-src-elem", "report"),
        }
        assert sorted(v["blocked"] for v in seen) == [
            f"{assets}/lib.js",
            f"{assets}/theme.css",
            "inline",
        ]
        wait_for(db, {script, style, inline})
        context.close()
    assert set(stored(db)) == {script, style, inline}  # the nonce'd inline script: no report

    # 2. The README's commands: what was blocked, then the smallest change.
    report = headerware("csp", "report", "--db", str(db))
    assert report.returncode == 0, report.stderr
    rows = [line.split() for line in report.stdout.splitlines()[1:]]
    assert {(r[2], r[3], r[5]) for r in rows} == {script, style, inline}
    assert all(r[1] == "csp" and r[4] == f"{site.url}/" for r in rows)  # on the page
    as_json = json.loads(headerware("csp", "report", "--db", str(db), "--json").stdout)
    assert {(v["directive"], v["blocked"]) for v in as_json} == {
        s[:2] for s in (script, style, inline)
    }

    suggested = headerware("csp", "suggest", "--config", str(config), "--write")
    assert suggested.returncode == 0, suggested.stderr
    diff, _, flagged = suggested.stdout.partition("flagged, not applied:")
    added = [line for line in diff.splitlines() if line.startswith("+") and "+++" not in line]
    assert "+[csp.policy]" in added
    assert f'+script-src = ["\'self\'", "{assets}"]' in added
    assert f'+style-src = ["\'self\'", "{assets}"]' in added
    assert "unsafe-inline" not in suggested.stdout.replace("('unsafe-inline' is never", "")
    assert "*" not in "".join(added)  # the origin seen, never a wildcard
    assert "inline code, script-src-elem" in flagged and "nonce" in flagged
    policy = tomllib.loads(config.read_text(encoding="utf-8"))["csp"]["policy"]
    assert policy["script-src"] == ["'self'", assets]
    assert policy["style-src"] == ["'self'", assets]
    assert not any("unsafe" in s or "*" in s for sources in policy.values() for s in sources)

    # 3. Promote: the check names only what should stay blocked, then enforce.
    checked = headerware("check-config", str(config), "--db", str(db))
    assert checked.returncode == 0, checked.stderr
    warnings = [line for line in checked.stderr.splitlines() if "would block" in line]
    assert len(warnings) == 1 and "would block inline under script-src-elem" in warnings[0]
    promoted = config.read_text(encoding="utf-8").replace("report_only = true\n", "", 1)
    assert "report_only" not in tomllib.loads(promoted)["csp"]
    config.write_text(promoted, encoding="utf-8")

    # 4. Enforcing: zero violations; the injected inline script is still blocked.
    with site.serve():
        page, context, errors, sent = load(browser, site.url)
        assert list(sent) == ["content-security-policy"]
        assert f"script-src 'self' {assets} 'nonce-" in sent["content-security-policy"]
        assert page.evaluate("document.body.dataset.lib") == "ran"
        assert page.evaluate("document.body.dataset.inline") == "ran"
        assert page.evaluate("getComputedStyle(document.getElementById('styled')).color") == GREEN
        page.wait_for_timeout(300)  # a late violation event would land here
        assert page.evaluate("window.__violations") == []
        assert errors == []
        page.evaluate(INJECT)
        assert page.evaluate("document.body.dataset.injected") is None  # did not run
        (blocked,) = page.evaluate("window.__violations")
        assert blocked == {
            "directive": "script-src-elem",
            "blocked": "inline",
            "disposition": "enforce",
        }
        assert any("Content Security Policy" in e for e in errors)
        wait_for(db, {("script-src-elem", "inline", "enforce")})
        context.close()
    enforced = [row for row in stored(db) if row[2] == "enforce"]
    assert enforced == [("script-src-elem", "inline", "enforce")]  # nothing else was blocked
