"""Caching: Cache-Control rules, private for personalised responses, ETag and 304."""

from __future__ import annotations

from typing import Any

import pytest
import webtest
from werkzeug.http import generate_etag, http_date

from headerware import ContentSecurityPolicy, Layer, Stack
from headerware.layers.caching import Caching
from headerware.options import OptionError
from tests.contract import LayerContract, Recorder, consume, make_environ, text_app

HELLO_TAG = generate_etag(b"hello")
WEAK = f'W/"{HELLO_TAG}"'
STRONG = f'"{HELLO_TAG}"'
LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"


def run(layer: Layer, app: Any = None, **environ: Any) -> tuple[Recorder, bytes]:
    recorder = Recorder()
    body = consume(Stack([layer], app or text_app())(make_environ(**environ), recorder))
    return recorder, body


def cache_control(recorder: Recorder) -> list[str]:
    return recorder.header_values("Cache-Control")


class TestContract(LayerContract):
    def make_layer(self) -> Layer:
        return Caching(rules={"/*": "no-cache"})


class TestStrongContract(LayerContract):
    def make_layer(self) -> Layer:
        return Caching(etag="strong", content_types={"text/*": "max-age=60"})


LAYER = Caching(
    rules={"/static/*": "public, max-age=31536000, immutable", "/static/live": "no-cache"},
    content_types={"text/html": "no-cache", "image/*": "max-age=86400"},
)


@pytest.mark.parametrize(
    ("environ", "extra", "expected"),
    [
        pytest.param(
            {"PATH_INFO": "/static/app.js"},
            [],
            ["public, max-age=31536000, immutable"],
            id="static-rule",
        ),
        pytest.param({"PATH_INFO": "/static/live"}, [], ["no-cache"], id="most-specific-rule"),
        pytest.param({"PATH_INFO": "/page"}, [], ["no-cache"], id="content-type-exact"),
        pytest.param(
            {"PATH_INFO": "/x"},
            [("Content-Type", "image/png")],
            ["max-age=86400"],
            id="content-type-major",
        ),
        pytest.param(
            {"PATH_INFO": "/x"}, [("Cache-Control", "max-age=5")], ["max-age=5"], id="apps-own-kept"
        ),
        pytest.param({"HTTP_AUTHORIZATION": "Bearer t"}, [], ["no-store"], id="authorization"),
        pytest.param(
            {"HTTP_COOKIE": "session=abc; theme=dark"}, [], ["no-store"], id="session-cookie"
        ),
        pytest.param({"HTTP_COOKIE": "theme=dark"}, [], ["no-cache"], id="other-cookie"),
        pytest.param(
            {"HTTP_AUTHORIZATION": "Bearer t", "PATH_INFO": "/static/a.js"},
            [],
            ["no-store"],
            id="authenticated-beats-rule",
        ),
        pytest.param(
            {"HTTP_AUTHORIZATION": "Bearer t"},
            [("Cache-Control", "private, max-age=9")],
            ["private, max-age=9"],
            id="authenticated-app-private-kept",
        ),
        pytest.param(
            {"HTTP_AUTHORIZATION": "Bearer t"},
            [("Cache-Control", "public, max-age=9")],
            ["no-store"],
            id="authenticated-app-public-replaced",
        ),
        pytest.param({"headerware.csp.nonce": "abc"}, [], ["private, no-cache"], id="nonce"),
        pytest.param(
            {"PATH_INFO": "/static/a.js"},
            [("Vary", "Accept, Cookie")],
            ["private, max-age=31536000, immutable"],
            id="vary-cookie-replaces-public",
        ),
        pytest.param(
            {"PATH_INFO": "/x"}, [("Set-Cookie", "a=1")], ["private, no-cache"], id="set-cookie"
        ),
        pytest.param(
            {"PATH_INFO": "/x"}, [("Content-Type", "application/json")], [], id="no-rule-untouched"
        ),
        pytest.param(
            {"PATH_INFO": "/x"},
            [("Content-Type", "application/json"), ("Vary", "*")],
            ["private"],
            id="vary-star-private",
        ),
    ],
)
def test_cache_control(
    environ: dict[str, Any], extra: list[tuple[str, str]], expected: list[str]
) -> None:
    headers = [("Content-Type", "text/html; charset=utf-8")]
    override = {k.lower() for k, _ in extra}
    headers = [h for h in headers if h[0].lower() not in override] + extra

    def app(env: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", headers)
        return [b"hello"]

    recorder, body = run(LAYER, app, **environ)
    assert body == b"hello"
    assert cache_control(recorder) == expected


def test_override() -> None:
    layer = Caching(rules={"/*": "no-cache"}, override=True)
    recorder, _ = run(layer, text_app(extra=[("Cache-Control", "max-age=60")]))
    assert cache_control(recorder) == ["no-cache"]


def test_authenticated_disabled() -> None:
    recorder, _ = run(Caching(authenticated=None), HTTP_AUTHORIZATION="Bearer t")
    assert cache_control(recorder) == []


class TestETag:
    def test_weak_by_default(self) -> None:
        recorder, body = run(Caching())
        assert body == b"hello"
        assert recorder.header_values("ETag") == [WEAK]

    def test_strong(self) -> None:
        recorder, _ = run(Caching(etag="strong"))
        assert recorder.header_values("ETag") == [STRONG]

    def test_disabled(self) -> None:
        recorder, _ = run(Caching(etag=None))
        assert recorder.header_values("ETag") == []

    @pytest.mark.parametrize(
        "if_none_match",
        [
            pytest.param(WEAK, id="weak"),
            pytest.param(STRONG, id="strong-form-weak-compare"),
            pytest.param(f'"other", {WEAK}', id="list"),
            pytest.param("*", id="star"),
        ],
    )
    def test_304(self, if_none_match: str) -> None:
        app = text_app(
            extra=[
                ("Set-Cookie", "a=1; Path=/"),
                ("Vary", "Accept"),
                ("X-Frame-Options", "DENY"),
                ("Expires", "Thu, 01 Jan 2099 00:00:00 GMT"),
                ("Content-Language", "en"),
            ]
        )
        recorder, body = run(Caching(), app, HTTP_IF_NONE_MATCH=if_none_match)
        assert recorder.status == "304 Not Modified"
        assert body == b""
        names = {k.lower() for k, _ in recorder.headers}
        assert not names & {"content-length", "content-type", "content-language"}
        assert recorder.header_values("Set-Cookie") == ["a=1; Path=/"]
        assert recorder.header_values("Vary") == ["Accept"]
        assert recorder.header_values("X-Frame-Options") == ["DENY"]
        assert recorder.header_values("Expires") == ["Thu, 01 Jan 2099 00:00:00 GMT"]
        assert recorder.header_values("Cache-Control") == ["private"]  # Set-Cookie present
        if if_none_match != "*":
            assert recorder.header_values("ETag") == [WEAK]

    def test_mismatch_is_200(self) -> None:
        recorder, body = run(Caching(), HTTP_IF_NONE_MATCH='"nope", W/"other"')
        assert recorder.status == "200 OK" and body == b"hello"
        assert recorder.header_values("ETag") == [WEAK]

    def test_apps_etag_honoured(self) -> None:
        app = text_app(extra=[("ETag", '"v1"')])
        recorder, body = run(Caching(), app)
        assert recorder.header_values("ETag") == ['"v1"'] and body == b"hello"
        recorder, body = run(Caching(), app, HTTP_IF_NONE_MATCH='W/"v1"')
        assert recorder.status == "304 Not Modified" and body == b""
        recorder, _ = run(Caching(), app, REQUEST_METHOD="HEAD", HTTP_IF_NONE_MATCH='"v1"')
        assert recorder.status == "304 Not Modified"

    def test_generator_app_with_etag_gets_304_without_body(self) -> None:
        closed: list[bool] = []

        def app(environ: Any, start_response: Any) -> Any:
            start_response(
                "200 OK", [("Content-Type", "text/plain"), ("ETag", '"v"'), ("Content-Length", "3")]
            )
            try:
                yield b"abc"
            finally:
                closed.append(True)

        recorder, body = run(Caching(), app, HTTP_IF_NONE_MATCH='"v"')
        assert recorder.status == "304 Not Modified"
        assert body == b"" and recorder.headers == [("ETag", '"v"')]
        assert closed == [True]

    @pytest.mark.parametrize(
        ("since", "status"),
        [
            pytest.param(LAST_MODIFIED, "304 Not Modified", id="same"),
            pytest.param("Thu, 22 Oct 2015 07:28:00 GMT", "304 Not Modified", id="later"),
            pytest.param("Tue, 20 Oct 2015 07:28:00 GMT", "200 OK", id="earlier"),
            pytest.param("not a date", "200 OK", id="garbage"),
        ],
    )
    def test_if_modified_since(self, since: str, status: str) -> None:
        app = text_app(extra=[("Last-Modified", LAST_MODIFIED)])
        recorder, body = run(Caching(), app, HTTP_IF_MODIFIED_SINCE=since)
        assert recorder.status == status
        assert body == (b"" if status.startswith("304") else b"hello")

    def test_if_none_match_takes_precedence(self) -> None:
        app = text_app(extra=[("Last-Modified", LAST_MODIFIED)])
        recorder, _ = run(
            Caching(), app, HTTP_IF_NONE_MATCH='"other"', HTTP_IF_MODIFIED_SINCE=http_date(2**31)
        )
        assert recorder.status == "200 OK"

    @pytest.mark.parametrize(
        ("environ", "status"),
        [
            pytest.param({"REQUEST_METHOD": "POST"}, "200 OK", id="post"),
            pytest.param({"REQUEST_METHOD": "PUT"}, "200 OK", id="put"),
            pytest.param({}, "404 Not Found", id="404"),
            pytest.param({}, "302 Found", id="redirect"),
        ],
    )
    def test_no_304_outside_get_head_2xx(self, environ: dict[str, str], status: str) -> None:
        app = text_app(status=status, extra=[("ETag", '"v1"')])
        recorder, body = run(Caching(), app, HTTP_IF_NONE_MATCH='"v1"', **environ)
        assert recorder.status == status and body == b"hello"

    def test_no_computed_etag_on_errors_or_head(self) -> None:
        recorder, _ = run(Caching(), text_app(status="404 Not Found"))
        assert recorder.header_values("ETag") == []
        recorder, _ = run(Caching(), REQUEST_METHOD="HEAD")
        assert recorder.header_values("ETag") == []

    def test_no_etag_with_nonce_or_no_store(self) -> None:
        recorder, _ = run(Caching(), **{"headerware.csp.nonce": "n"})
        assert recorder.header_values("ETag") == []
        recorder, _ = run(Caching(), HTTP_AUTHORIZATION="Bearer t")
        assert recorder.header_values("ETag") == []

    def test_size_limit(self) -> None:
        recorder, _ = run(Caching(max_etag_size=4))  # Content-Length 5: not even held
        assert recorder.header_values("ETag") == []

        def no_length(environ: Any, start_response: Any) -> list[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"he", b"llo"]

        recorder, body = run(Caching(max_etag_size=4), no_length)
        assert body == b"hello" and recorder.header_values("ETag") == []
        recorder, body = run(Caching(), no_length)
        assert body == b"hello" and recorder.header_values("ETag") == [WEAK]

    def test_streamed_body_never_buffered(self) -> None:
        produced: list[int] = []

        def app(environ: Any, start_response: Any) -> Any:
            start_response("200 OK", [("Content-Type", "text/plain")])
            for index in range(3):
                produced.append(index)
                yield b"x"

        recorder = Recorder()
        result = Stack([Caching()], app)(make_environ(HTTP_IF_NONE_MATCH='W/"x"'), recorder)
        iterator = iter(result)
        assert next(iterator) == b"x"
        assert produced == [0]
        assert recorder.status == "200 OK"
        assert recorder.header_values("ETag") == []
        consume(result)

    def test_file_wrapper_not_buffered(self, tmp_path: Any) -> None:
        from tests.contract import FileWrapper

        path = tmp_path / "f"
        path.write_bytes(b"data")
        returned: list[Any] = []

        def app(environ: Any, start_response: Any) -> Any:
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            returned.append(environ["wsgi.file_wrapper"](open(path, "rb")))  # noqa: SIM115
            return returned[0]

        recorder = Recorder()
        result = Stack([Caching()], app)(
            make_environ(**{"wsgi.file_wrapper": FileWrapper}), recorder
        )
        assert result is returned[0]
        assert consume(result) == b"data"
        assert recorder.header_values("ETag") == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"rules": {"/x": "no-cache\r\nX: y"}}, "rules", id="crlf"),
        pytest.param({"rules": {"x": "no-cache"}}, "start with '/'", id="pattern"),
        pytest.param({"content_types": {"html": "no-cache"}}, "media type", id="content-type"),
        pytest.param({"content_types": {"*/*": "no-cache"}}, "media type", id="star-star"),
        pytest.param({"etag": "yes"}, "etag", id="etag"),
        pytest.param({"max_etag_size": -1}, "max_etag_size", id="size"),
        pytest.param({"session_cookies": "session"}, "session_cookies", id="cookie-string"),
        pytest.param({"authenticated": "no-store\n"}, "authenticated", id="authenticated"),
    ],
)
def test_configuration_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(OptionError, match=message) as info:
        Caching(**options)
    assert info.value.option == next(iter(options))


def test_describe() -> None:
    described = LAYER.describe()
    assert described["content_types"] == {"text/html": "no-cache", "image/*": "max-age=86400"}
    assert described["etag"] == "weak"
    assert described["authenticated"] == "no-store"
    assert Caching(**described).describe() == described  # option-shaped: pastes back


def test_webtest_304_is_valid() -> None:
    app = webtest.TestApp(Stack([Caching()], text_app()), lint=True)
    first = app.get("/")
    assert first.headers["ETag"] == WEAK
    second = app.get("/", headers={"If-None-Match": first.headers["ETag"]}, status=304)
    assert second.body == b""
    assert "Content-Length" not in second.headers or second.headers["Content-Length"] == "0"


# -- CSP nonces: decided from the response, so CSP no longer turns off shared caching ------

STATIC_RULE = "public, max-age=31536000, immutable"
CSS = b"body { color: red }"


def site(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """A CSS file under /static/ and an HTML page everywhere else."""
    if environ["PATH_INFO"].startswith("/static/"):
        body, ctype = CSS, "text/css; charset=utf-8"
    else:
        body, ctype = b"<p>hello</p>", "text/html; charset=utf-8"
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


def test_csp_layer_leaves_static_files_public_and_pages_private() -> None:
    stack = Stack(
        [ContentSecurityPolicy(), Caching(rules={"/static/*": STATIC_RULE}, etag="weak")], site
    )
    recorder = Recorder()
    body = consume(stack(make_environ(PATH_INFO="/static/app.css"), recorder))
    assert body == CSS
    assert cache_control(recorder) == [STATIC_RULE]
    assert recorder.header_values("ETag") == [f'W/"{generate_etag(CSS)}"']
    assert recorder.header_values("Content-Security-Policy")  # the CSP layer still ran

    page = Recorder()
    consume(stack(make_environ(PATH_INFO="/page"), page))
    assert cache_control(page) == ["private"]
    assert page.header_values("ETag") == []
    assert "'nonce-" in page.header_values("Content-Security-Policy")[0]

    # The cached CSS revalidates with a 304.
    again = Recorder()
    tag = recorder.header_values("ETag")[0]
    environ = make_environ(PATH_INFO="/static/app.css", HTTP_IF_NONE_MATCH=tag)
    assert consume(stack(environ, again)) == b""
    assert again.status == "304 Not Modified"


def test_issue15_static_rule_through_csp_and_caching_in_canonical_order() -> None:
    """Issue 15 item 2: the CSS keeps the rule and an ETag; the nonce page is private."""
    stack = Stack([ContentSecurityPolicy(), Caching(rules={"/static/*": STATIC_RULE})], site)
    css = Recorder()
    consume(stack(make_environ(PATH_INFO="/static/app.css"), css))
    assert cache_control(css) == [STATIC_RULE]
    assert css.header_values("ETag") == [f'W/"{generate_etag(CSS)}"']
    page = Recorder()
    assert consume(stack(make_environ(PATH_INFO="/page"), page)) == b"<p>hello</p>"
    assert cache_control(page) == ["private"]
    assert page.header_values("ETag") == []
    assert "'nonce-" in page.header_values("Content-Security-Policy")[0]


def test_document_without_a_nonce_policy_is_not_personalised() -> None:
    stack = Stack(
        [ContentSecurityPolicy(nonce_directives=()), Caching(rules={"/*": "public, max-age=60"})],
        site,
    )
    page = Recorder()
    consume(stack(make_environ(PATH_INFO="/page"), page))
    assert "'nonce-" not in page.header_values("Content-Security-Policy")[0]
    assert cache_control(page) == ["public, max-age=60"]
    assert page.header_values("ETag") == [f'W/"{generate_etag(b"<p>hello</p>")}"']


@pytest.mark.parametrize(
    "ctype", ["application/json", "text/css", "image/png", "text/javascript", "text/plain"]
)
def test_published_nonce_does_not_personalise_non_documents(ctype: str) -> None:
    layer = Caching(rules={"/*": "public, max-age=60"})
    recorder, _ = run(layer, _typed(ctype), **{"headerware.csp.nonce": "n"})
    assert cache_control(recorder) == ["public, max-age=60"]
    assert recorder.header_values("ETag") == [WEAK]


@pytest.mark.parametrize("ctype", ["text/html", "application/xhtml+xml", "image/svg+xml", None])
def test_published_nonce_personalises_documents(ctype: str | None) -> None:
    layer = Caching(rules={"/*": "public, max-age=60"})
    recorder, _ = run(layer, _typed(ctype), **{"headerware.csp.nonce": "n"})
    assert cache_control(recorder) == ["private, max-age=60"]
    assert recorder.header_values("ETag") == []


def test_apps_own_nonce_policy_personalises_the_page() -> None:
    layer = Caching(rules={"/*": "public, max-age=60"})
    policy = ("Content-Security-Policy", "script-src 'nonce-abc'")
    recorder, _ = run(layer, text_app(extra=[policy]))
    assert cache_control(recorder) == ["private, max-age=60"]
    assert recorder.header_values("ETag") == []
    recorder, _ = run(layer, text_app(extra=[("Content-Security-Policy", "script-src 'self'")]))
    assert cache_control(recorder) == ["public, max-age=60"]
    assert recorder.header_values("ETag") == [WEAK]


def _typed(ctype: str | None) -> Any:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        headers = [("Content-Length", "5")]
        if ctype is not None:
            headers.append(("Content-Type", ctype))
        start_response("200 OK", headers)
        return [b"hello"]

    return app


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/static/app.js", [STATIC_RULE], id="plain"),
        pytest.param("/static//app.js", [STATIC_RULE], id="repeated-slash"),
        pytest.param("/static/x/../app.js", [STATIC_RULE], id="dot-dot-inside"),
        pytest.param("/account/../static/app.js", [], id="dot-dot-into-the-rule"),
        pytest.param("/static/../account", [], id="dot-dot-out-of-the-rule"),
    ],
)
def test_path_rules_apply_only_when_raw_and_resolved_agree(path: str, expected: list[str]) -> None:
    layer = Caching(rules={"/static/*": STATIC_RULE})
    recorder, _ = run(layer, _typed("application/javascript"), PATH_INFO=path)
    assert cache_control(recorder) == expected
