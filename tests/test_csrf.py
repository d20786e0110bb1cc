"""CSRF: Fetch-Metadata / Origin tables, trusted origins, exemptions, token mode."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable
from typing import Any
from wsgiref.validate import validator

import pytest
import webtest

from headerware import Stack
from headerware.layers.csrf import (
    CSRFProtect,
    csrf_refusal,
    csrf_token,
    csrf_verdict,
    origin_fallback_warning,
    request_origin,
)
from headerware.layers.sessions import Sessions, get_session
from headerware.options import OptionError
from headerware.wsgi import WSGIContext
from tests.contract import LayerContract, make_environ

KEY = "k" * 32
UNSAFE = ["POST", "PUT", "PATCH", "DELETE"]


def echo_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Echoes the method and the body it read, so tests see the body was put back."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    out = environ["REQUEST_METHOD"].encode() + b" " + body
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(out))), ("X-App", "1")],
    )
    return [out]


def client(**options: Any) -> webtest.TestApp:
    return webtest.TestApp(CSRFProtect(echo_app, **options), lint=True)


def refusals(caplog: Any, event: str = "csrf_refused") -> list[dict[str, Any]]:
    return [
        r.hw_fields  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "hw_event", "") == event
    ]


class TestCSRFContract(LayerContract):
    def make_layer(self) -> CSRFProtect:
        return CSRFProtect()

    def environ_extra(self) -> dict[str, Any]:
        return {"HTTP_SEC_FETCH_SITE": "cross-site", "HTTP_ORIGIN": "https://evil.example"}


class TestCSRFTokenContract(LayerContract):
    def make_layer(self) -> CSRFProtect:
        return CSRFProtect(mode="token", secret_keys=[KEY])

    def wrap(self, app: Any) -> Any:
        return Stack([Sessions(secret_keys=[KEY]), self.make_layer()], app)


# (Sec-Fetch-Site, Origin, expected status) for every unsafe method; host is localhost.
FETCH_TABLE = [
    pytest.param("same-origin", None, 200, id="sfs-same-origin"),
    pytest.param("none", None, 200, id="sfs-none"),
    pytest.param("cross-site", None, 403, id="sfs-cross-site"),
    pytest.param("same-site", None, 403, id="sfs-same-site"),
    pytest.param("bogus", None, 403, id="sfs-unknown-value"),
    pytest.param("same-origin", "https://evil.example", 200, id="sfs-decides-over-origin"),
    pytest.param("cross-site", "http://localhost", 403, id="sfs-cross-site-own-origin"),
    pytest.param("cross-site", "https://trusted.example", 200, id="sfs-cross-site-trusted"),
    pytest.param("same-site", "https://trusted.example", 200, id="sfs-same-site-trusted"),
    pytest.param("cross-site", "https://trusted.example:8443", 403, id="trusted-other-port"),
    pytest.param(None, None, 200, id="no-headers-not-a-browser"),
    pytest.param(None, "http://localhost", 200, id="origin-same"),
    pytest.param(None, "http://LOCALHOST:80", 200, id="origin-same-normalised"),
    pytest.param(None, "https://localhost", 403, id="origin-scheme-differs"),
    pytest.param(None, "http://localhost:8080", 403, id="origin-port-differs"),
    pytest.param(None, "http://localhost.evil.example", 403, id="origin-suffix-spoof"),
    pytest.param(None, "http://evil.example", 403, id="origin-other"),
    pytest.param(None, "null", 403, id="origin-null"),
    pytest.param(None, "http://localhost/path", 403, id="origin-with-path"),
    pytest.param(None, "https://trusted.example", 200, id="origin-trusted"),
]


class TestOriginMode:
    @pytest.mark.parametrize("method", UNSAFE)
    @pytest.mark.parametrize(("site", "origin", "expected"), FETCH_TABLE)
    def test_unsafe_methods(
        self, method: str, site: str | None, origin: str | None, expected: int, caplog: Any
    ) -> None:
        headers = {}
        if site is not None:
            headers["Sec-Fetch-Site"] = site
        if origin is not None:
            headers["Origin"] = origin
        app = client(trusted_origins=["https://trusted.example"])
        with caplog.at_level(logging.WARNING, logger="headerware"):
            response = app.request(
                "/preferences",
                method=method,
                headers=headers,
                body=b"theme=dark",
                content_type="application/x-www-form-urlencoded",
                status="*",
            )
        assert response.status_int == expected
        if expected == 200:
            assert response.text == f"{method} theme=dark"
            assert refusals(caplog) == []
        else:
            assert "X-App" not in response.headers
            (event,) = refusals(caplog)
            assert event["origin"] == origin and event["path"] == "/preferences"
            assert event["reason"] == ("cross_site" if site else "origin_mismatch")

    @pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
    def test_safe_methods_always_pass(self, method: str) -> None:
        response = client().request(
            "/preferences",
            method=method,
            headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        )
        assert response.status_int == 200

    def test_own_origin_from_server_name_and_https(self) -> None:
        own = WSGIContext(make_environ(HTTP_HOST=""))
        assert request_origin(own) == "http://localhost"
        environ = make_environ(
            HTTP_HOST="",
            SERVER_NAME="example.com",
            SERVER_PORT="8443",
            **{"wsgi.url_scheme": "https"},
        )
        assert request_origin(WSGIContext(environ)) == "https://example.com:8443"
        environ = make_environ(HTTP_HOST="Example.COM:443", **{"wsgi.url_scheme": "https"})
        assert request_origin(WSGIContext(environ)) == "https://example.com"
        response = client().post(
            "https://localhost/p", headers={"Origin": "https://localhost"}, status="*"
        )
        assert response.status_int == 200

    @pytest.mark.parametrize(
        ("accept", "content_type"),
        [
            pytest.param(None, "application/json", id="default-json"),
            pytest.param("application/json", "application/json", id="json"),
            pytest.param("text/html,application/xhtml+xml,*/*;q=0.8", "text/html", id="browser"),
        ],
    )
    def test_refusal_body_by_accept(self, accept: str | None, content_type: str) -> None:
        headers = {"Sec-Fetch-Site": "cross-site"}
        if accept:
            headers["Accept"] = accept
        response = client().post("/preferences", headers=headers, status=403)
        assert response.content_type == content_type
        assert "cross-site request refused" in response.text

    def test_report_only_logs_and_passes(self, caplog: Any) -> None:
        with caplog.at_level(logging.WARNING, logger="headerware"):
            response = client(report_only=True).post(
                "/preferences", params={"a": "1"}, headers={"Sec-Fetch-Site": "cross-site"}
            )
        assert response.text == "POST a=1"
        (event,) = refusals(caplog)
        assert event["report_only"] is True and event["reason"] == "cross_site"

    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            pytest.param("/hooks/stripe", 200, id="exact"),
            pytest.param("/hooks/stripe/extra", 403, id="exact-is-not-prefix"),
            pytest.param("/hooks/stripe2", 403, id="no-prefix-surprise"),
            pytest.param("/api/v1/callback", 200, id="glob"),
            pytest.param("/api/v1", 200, id="prefix-itself-as-in-paths"),
            pytest.param("/api/v1x", 403, id="glob-on-segment-boundary"),
            pytest.param("/hooks//stripe", 200, id="normalised"),
        ],
    )
    def test_exempt_paths(self, path: str, expected: int) -> None:
        app = client(exempt_paths=["/hooks/stripe", "/api/v1/*"])
        response = app.post(path, headers={"Sec-Fetch-Site": "cross-site"}, status="*")
        assert response.status_int == expected

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            pytest.param("/hooks/../admin", 403, id="raw-exempt-resolved-not"),
            pytest.param("/admin/../hooks/x", 403, id="resolved-exempt-raw-not"),
            pytest.param("/hooks/./x", 200, id="both-exempt"),
        ],
    )
    def test_exemption_needs_raw_and_resolved_path(self, raw: str, expected: int) -> None:
        """A raw ``/hooks/..%2fadmin`` reaches the app as ``/hooks/../admin``."""
        recorder: list[str] = []

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            recorder.append(status)
            return lambda data: None

        layer = CSRFProtect(exempt_paths=["/hooks/*"])
        environ = make_environ(
            REQUEST_METHOD="POST", PATH_INFO=raw, HTTP_SEC_FETCH_SITE="cross-site"
        )
        b"".join(Stack([layer], echo_app)(environ, start_response))
        assert int(recorder[-1][:3]) == expected

    @pytest.mark.parametrize(
        ("options", "match"),
        [
            pytest.param(
                {"trusted_origins": ["https://a.example/"]}, "trusted_origins", id="trailing-slash"
            ),
            pytest.param(
                {"trusted_origins": ["https://*.com"]}, "trusted_origins", id="wildcard-tld"
            ),
            pytest.param(
                {"trusted_origins": ["https://a.*.example.com"]},
                "trusted_origins",
                id="wildcard-inner-label",
            ),
            pytest.param(
                {"trusted_origins": ["https://*example.com"]},
                "trusted_origins",
                id="wildcard-not-a-label",
            ),
            pytest.param(
                {"trusted_origins": ["ftp://*.example.com"]}, "trusted_origins", id="wildcard-ftp"
            ),
            pytest.param({"trusted_origins": ["*"]}, "trusted_origins", id="star"),
            pytest.param({"defer_to_framework": "yes"}, "defer_to_framework", id="defer"),
            pytest.param({"trusted_origins": ["a.example"]}, "trusted_origins", id="no-scheme"),
            pytest.param(
                {"trusted_origins": ["https://a.example:443"]}, "trusted_origins", id="default-port"
            ),
            pytest.param({"trusted_origins": ["null"]}, "trusted_origins", id="null"),
            pytest.param({"trusted_origins": "https://a.example"}, "list", id="string"),
            pytest.param({"exempt_paths": ["hooks"]}, "exempt_paths", id="relative-path"),
            pytest.param({"mode": "double-submit"}, "mode", id="mode"),
            pytest.param({"header_name": "X Bad"}, "header_name", id="header-name"),
            pytest.param({"token_max_age": 0}, "token_max_age", id="token-max-age"),
            pytest.param({"max_form_size": -1}, "max_form_size", id="max-form-size"),
        ],
    )
    def test_bad_options(self, options: dict[str, Any], match: str) -> None:
        with pytest.raises(OptionError, match=match) as info:
            CSRFProtect(**options)
        assert info.value.option in options

    def test_describe(self) -> None:
        options = CSRFProtect(trusted_origins=["https://A.example"]).describe()
        assert options["trusted_origins"] == ["https://a.example"]

    def test_no_token_in_origin_mode(self) -> None:
        with pytest.raises(LookupError, match="mode='token'"):
            csrf_token({})


def form_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """GET renders a form with a token; POST echoes the body it reads."""
    if environ["REQUEST_METHOD"] == "GET":
        token = csrf_token(environ)
        get_session(environ)["seen"] = True
        body = f'<input name="csrf_token" value="{token}">'.encode()
        start_response(
            "200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))]
        )
        return [body]
    return echo_app(environ, start_response)


def token_client(**options: Any) -> webtest.TestApp:
    layers = [Sessions(secret_keys=[KEY]), CSRFProtect(mode="token", secret_keys=[KEY], **options)]
    return webtest.TestApp(Stack(layers, form_app), lint=True)


def form_token(response: webtest.TestResponse) -> str:
    match = re.search(r'value="([^"]+)"', response.text)
    assert match is not None
    return match.group(1)


class TestTokenMode:
    def test_form_field_token(self) -> None:
        app = token_client()
        token = form_token(app.get("/form"))
        response = app.post("/form", params={"csrf_token": token, "theme": "dark"})
        assert response.text.startswith("POST ")
        assert "theme=dark" in response.text, "the app must read the body again"

    def test_header_token(self) -> None:
        app = token_client()
        token = form_token(app.get("/form"))
        response = app.post_json("/api", {"a": 1}, headers={"X-CSRF-Token": token})
        assert response.text == 'POST {"a": 1}'

    def test_multipart_token_and_body_put_back(self) -> None:
        app = token_client()
        token = form_token(app.get("/form"))
        response = app.post(
            "/upload",
            params={"csrf_token": token},
            upload_files=[("file", "a.txt", b"file-content")],
        )
        assert b"file-content" in response.body

    def test_tokens_are_masked_per_call(self) -> None:
        app = token_client()
        first = form_token(app.get("/form"))
        second = form_token(app.get("/form"))
        assert first != second
        for token in (first, second):
            assert app.post("/form", params={"csrf_token": token}).status_int == 200

    @pytest.mark.parametrize(
        ("mutate", "reason"),
        [
            pytest.param(lambda t: None, "token_missing", id="missing"),
            pytest.param(lambda t: "", "token_missing", id="empty"),
            pytest.param(
                lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
                "token_invalid",
                id="tampered",
            ),
            pytest.param(lambda t: "garbage", "token_invalid", id="garbage"),
        ],
    )
    def test_bad_tokens_are_refused(self, mutate: Any, reason: str, caplog: Any) -> None:
        app = token_client()
        token = mutate(form_token(app.get("/form")))
        params = {"theme": "dark"} if token is None else {"csrf_token": token, "theme": "dark"}
        with caplog.at_level(logging.WARNING, logger="headerware"):
            response = app.post("/form", params=params, status=403)
        assert "CSRF token" in response.json["error"]
        assert [e["reason"] for e in refusals(caplog)] == [reason]

    def test_token_of_another_session_is_refused(self) -> None:
        alice, mallory = token_client(), token_client()
        stolen = form_token(mallory.get("/form"))
        alice.get("/form")
        alice.post("/form", params={"csrf_token": stolen}, status=403)

    def test_regenerate_rotates_the_secret(self) -> None:
        def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            if environ["PATH_INFO"] == "/login":
                get_session(environ).regenerate()
            return form_app(environ, start_response)

        layers = [Sessions(secret_keys=[KEY]), CSRFProtect(mode="token", secret_keys=[KEY])]
        client_ = webtest.TestApp(Stack(layers, app), lint=True)
        before = form_token(client_.get("/form"))
        client_.get("/login")
        client_.post("/form", params={"csrf_token": before}, status=403)

    def test_cross_site_refused_even_with_a_token(self) -> None:
        app = token_client()
        token = form_token(app.get("/form"))
        response = app.post(
            "/form",
            params={"csrf_token": token},
            headers={"Sec-Fetch-Site": "cross-site"},
            status=403,
        )
        assert "cross-site" in response.json["error"]

    def test_oversized_form_is_not_parsed(self) -> None:
        app = token_client(max_form_size=100)
        token = form_token(app.get("/form"))
        app.post("/form", params={"csrf_token": token, "pad": "x" * 200}, status=413)


# -- issue 11, item 7: the body is read only after the origin check, and bounded -------


class RecordingInput:
    """A ``wsgi.input`` that records how much was read from it."""

    def __init__(self, body: bytes) -> None:
        self._stream = io.BytesIO(body)
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.read_bytes += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._stream.readline(size)
        self.read_bytes += len(data)
        return data


def call(stack: Any, environ: dict[str, Any]) -> tuple[str, bytes]:
    statuses: list[str] = []
    body = b"".join(stack(environ, lambda status, headers, exc=None: statuses.append(status)))
    return statuses[0], body


def token_stack(**options: Any) -> Stack:
    layers = [Sessions(secret_keys=[KEY]), CSRFProtect(mode="token", secret_keys=[KEY], **options)]
    return Stack(layers, form_app)


class TestBoundedForms:
    @pytest.mark.parametrize(
        "headers",
        [
            pytest.param({"HTTP_SEC_FETCH_SITE": "cross-site"}, id="issue11-7-cross-site-unread"),
            pytest.param(
                {"HTTP_ORIGIN": "https://evil.example"}, id="issue11-7-cross-origin-unread"
            ),
        ],
    )
    def test_cross_site_post_is_refused_before_the_body_is_read(
        self, headers: dict[str, str]
    ) -> None:
        body = b"csrf_token=x&" + b"a" * (1 << 20)
        stream = RecordingInput(body)
        environ = make_environ(
            REQUEST_METHOD="POST",
            PATH_INFO="/form",
            CONTENT_TYPE="application/x-www-form-urlencoded",
            CONTENT_LENGTH=str(len(body)),
            **{"wsgi.input": stream},
            **headers,
        )
        status, _ = call(token_stack(max_form_size=2 << 20), environ)
        assert status.startswith("403")
        assert stream.read_bytes == 0

    def test_many_fields_refused_before_one_is_decoded(
        self, monkeypatch: pytest.MonkeyPatch, caplog: Any
    ) -> None:
        import headerware.csrf_tokens as csrf_module

        decoded: list[str] = []
        real = csrf_module.unquote_plus

        def counting(text: str, *args: Any, **options: Any) -> str:
            decoded.append(text)
            return real(text, *args, **options)

        monkeypatch.setattr(csrf_module, "unquote_plus", counting)
        app = token_client()
        token = form_token(app.get("/form"))
        fields = "&".join(f"f{index}=v" for index in range(10_000))
        with caplog.at_level(logging.WARNING, logger="headerware"):
            response = app.post(
                "/form",
                f"{fields}&csrf_token={token}",
                content_type="application/x-www-form-urlencoded",
                headers={"Origin": "http://localhost"},
                status="*",
            )
        assert response.status_int == 413
        assert decoded == []
        assert [event["reason"] for event in refusals(caplog)] == ["form_too_large"]
        # The same form within the limit passes, and the app still reads its body.
        small = app.post("/form", {"csrf_token": token, "theme": "dark"})
        assert small.status_int == 200 and "theme=dark" in small.text
        assert len(decoded) <= 2

    def test_many_multipart_parts_refused(self) -> None:
        app = token_client(max_form_fields=50)
        token = form_token(app.get("/form"))
        params = [(f"f{index}", "v") for index in range(100)] + [("csrf_token", token)]
        response = app.post(
            "/form", params=params, upload_files=[("file", "a.txt", b"x")], status="*"
        )
        assert response.status_int == 413

    def test_oversized_form_is_413_unread_and_header_token_still_works(self) -> None:
        app = token_client(max_form_size=1024)
        token = form_token(app.get("/form"))
        big = {"csrf_token": token, "blob": "x" * 4096}
        assert app.post("/form", big, status="*").status_int == 413
        ok = app.post("/form", big, headers={"X-CSRF-Token": token})
        assert ok.status_int == 200 and ok.text.endswith("x" * 100)


# -- issue 11, item 14 --------------------------------------------------------------


class TestConfigurationEdges:
    @pytest.mark.parametrize(
        "patterns",
        [
            pytest.param(["/*"], id="issue11-14-exempt-everything"),
            pytest.param(["/hooks/*", "*"], id="issue11-14-exempt-everything-star"),
        ],
    )
    def test_exempting_every_path_is_refused(self, patterns: list[str]) -> None:
        with pytest.raises(OptionError, match="every path") as info:
            CSRFProtect(exempt_paths=patterns)
        assert info.value.option == "exempt_paths"
        CSRFProtect(exempt_paths=["/hooks/*", "/"])  # narrower exemptions are fine

    @pytest.mark.parametrize(
        ("site", "expected"),
        [
            pytest.param(None, 200, id="issue11-14-empty-origin-is-absent"),
            pytest.param("cross-site", 403, id="issue11-14-empty-origin-sfs-decides"),
        ],
    )
    def test_empty_origin_counts_as_absent(self, site: str | None, expected: int) -> None:
        headers = {"Origin": ""}
        if site:
            headers["Sec-Fetch-Site"] = site
        response = client().post("/p", "x=1", headers=headers, status="*")
        assert response.status_int == expected
        if expected == 200:
            assert response.text == "POST x=1"

    @pytest.mark.parametrize(
        ("policy", "warns"),
        [
            pytest.param("no-referrer", True, id="issue11-14-no-referrer-warns"),
            pytest.param("unsafe-url, No-Referrer", True, id="issue11-14-last-policy-wins"),
            pytest.param("no-referrer, strict-origin-when-cross-origin", False, id="fallback"),
            pytest.param("same-origin", False, id="same-origin"),
            pytest.param(None, False, id="unset"),
        ],
    )
    def test_origin_fallback_warning(self, policy: str | None, warns: bool) -> None:
        warning = origin_fallback_warning(policy)
        assert (warning is not None) == warns
        if warning:
            assert "Origin: null" in warning

    def test_describe_pastes_back(self) -> None:
        from headerware.config import stack_from_dict

        options = {"mode": "token", "trusted_origins": ["https://a.example"], "secret_keys": [KEY]}
        described = stack_from_dict({"csrf": options}).layers[0].describe()
        assert "secret_keys" not in described
        table = {key: value for key, value in described.items() if value is not None}
        again = stack_from_dict({"csrf": {**table, "secret_keys": [KEY]}}).layers[0]
        assert again.describe() == described


# -- issue 12: wildcard trusted origins, deferred verdicts --------------------------


def validated(layers: list[Any], app: Any) -> webtest.TestApp:
    return webtest.TestApp(validator(Stack(layers, validator(app))), lint=True)


WILDCARD_TABLE = [
    pytest.param("https://a.example.com", 200, id="issue12-wildcard-subdomain"),
    pytest.param("https://b.a.example.com", 200, id="issue12-wildcard-deeper"),
    pytest.param("https://app.trusted.example", 200, id="issue12-exact-still-works"),
    pytest.param("https://example.com", 403, id="issue12-wildcard-apex-not-included"),
    pytest.param("https://example.com.evil.example", 403, id="issue12-wildcard-suffix-spoof"),
    pytest.param("https://evilexample.com", 403, id="issue12-wildcard-label-boundary"),
    pytest.param("http://a.example.com", 403, id="issue12-wildcard-scheme"),
    pytest.param("https://a.example.com:8443", 403, id="issue12-wildcard-port"),
    pytest.param("https://A.example.com", 403, id="issue12-wildcard-not-serialized"),
    pytest.param("null", 403, id="issue12-wildcard-null"),
]


class TestWildcardTrustedOrigins:
    TRUSTED = ("https://*.example.com", "https://app.trusted.example")

    @pytest.mark.parametrize("site", ["cross-site", "same-site", None])
    @pytest.mark.parametrize(("origin", "expected"), WILDCARD_TABLE)
    def test_matched_like_cors(
        self, origin: str, expected: int, site: str | None, caplog: Any
    ) -> None:
        headers = {"Origin": origin, **({"Sec-Fetch-Site": site} if site else {})}
        app = validated([CSRFProtect(trusted_origins=self.TRUSTED)], echo_app)
        with caplog.at_level(logging.WARNING, logger="headerware"):
            response = app.post("/p", params={"a": "1"}, headers=headers, status="*")
        assert response.status_int == expected
        if expected == 200:
            assert response.text == "POST a=1" and response.headers["X-App"] == "1"
        else:
            assert "X-App" not in response.headers
            (event,) = refusals(caplog)
            assert event["origin"] == origin

    def test_describe_keeps_the_pattern_and_pastes_back(self) -> None:
        from headerware.config import stack_from_dict

        layer = CSRFProtect(trusted_origins=["https://*.Example.com", "https://B.example"])
        described = layer.describe()
        assert described["trusted_origins"] == ["https://b.example", "https://*.Example.com"]
        again = stack_from_dict({"csrf": described}).layers[0]
        assert again.describe() == described


class Recorder:
    """A bare WSGI app with two views; ``/hooks/*`` is exempt, the rest checks."""

    def __init__(self, *, checks: bool = True, stream: bool = False) -> None:
        self.ran: list[str] = []
        self.verdicts: list[str | None] = []
        self.checks = checks
        self.stream = stream

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        if self.checks:
            refusal = csrf_refusal(environ)
            self.verdicts.append(csrf_verdict(environ))
            if refusal is not None and not path.startswith("/hooks/"):
                start_response(refusal.status, refusal.headers)
                return [refusal.body]
        self.ran.append(path)
        start_response("200 OK", [("Content-Type", "text/plain")])
        if self.stream:
            return (chunk for chunk in [b"ran ", path.encode()])
        return [b"ran " + path.encode()]


CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}


class TestDeferToFramework:
    def test_app_enforces_the_verdict_and_exempts_a_view(self, caplog: Any) -> None:
        recorder = Recorder()
        app = validated([CSRFProtect(defer_to_framework=True)], recorder)
        with caplog.at_level(logging.WARNING, logger="headerware"):
            refused = app.post("/preferences", {"theme": "dark"}, headers=CROSS_SITE, status=403)
            exempt = app.post("/hooks/pay", {"a": "1"}, headers=CROSS_SITE)
        assert refused.json == {"error": "Forbidden: cross-site request refused"}
        assert refused.headers["Cache-Control"] == "no-store"
        assert exempt.text == "ran /hooks/pay"
        assert recorder.ran == ["/hooks/pay"], "the refused view must not run"
        assert recorder.verdicts == ["cross_site", "cross_site"]
        events = refusals(caplog)
        assert [event["deferred"] for event in events] == [True, True]
        assert refusals(caplog, "csrf_verdict_unchecked") == []

    def test_passing_requests_carry_a_none_verdict(self) -> None:
        recorder = Recorder()
        app = validated([CSRFProtect(defer_to_framework=True)], recorder)
        app.get("/preferences")
        app.post("/preferences", headers={"Sec-Fetch-Site": "same-origin"})
        app.post("/preferences")  # no browser headers: not a browser
        assert recorder.verdicts == [None, None, None]
        assert recorder.ran == ["/preferences"] * 3

    def test_enforcing_layer_publishes_a_passing_verdict(self) -> None:
        recorder = Recorder()
        app = validated([CSRFProtect()], recorder)
        app.post("/p", headers={"Sec-Fetch-Site": "same-origin"})
        app.post("/p", headers=CROSS_SITE, status=403)
        assert recorder.verdicts == [None] and recorder.ran == ["/p"]

    def test_refusal_negotiated_like_the_layer(self) -> None:
        app = validated([CSRFProtect(defer_to_framework=True)], Recorder())
        headers = {**CROSS_SITE, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
        response = app.post("/p", headers=headers, status=403)
        assert response.content_type == "text/html"
        assert "cross-site request refused" in response.text

    def test_form_too_large_is_a_413_refusal(self) -> None:
        recorder = Recorder()
        layers = [
            Sessions(secret_keys=[KEY]),
            CSRFProtect(mode="token", secret_keys=[KEY], max_form_size=10, defer_to_framework=True),
        ]
        app = validated(layers, recorder)
        app.post("/p", {"csrf_token": "x" * 50}, status=413)
        assert recorder.verdicts == ["form_too_large"] and recorder.ran == []

    def test_report_only_defers_nothing(self) -> None:
        recorder = Recorder()
        app = validated([CSRFProtect(defer_to_framework=True, report_only=True)], recorder)
        assert app.post("/p", headers=CROSS_SITE).text == "ran /p"
        assert recorder.verdicts == [None]

    @pytest.mark.parametrize(
        "stream",
        [
            pytest.param(False, id="issue12-defer-unchecked-list"),
            pytest.param(True, id="issue12-defer-unchecked-stream"),
        ],
    )
    def test_unchecked_verdict_is_never_silent(self, stream: bool, caplog: Any) -> None:
        recorder = Recorder(checks=False, stream=stream)
        app = validated([CSRFProtect(defer_to_framework=True)], recorder)
        with caplog.at_level(logging.WARNING, logger="headerware"):
            response = app.post("/preferences", headers=CROSS_SITE, status=403)
            passed = app.post("/preferences", headers={"Sec-Fetch-Site": "same-origin"})
        assert response.json == {"error": "Forbidden: cross-site request refused"}
        assert passed.text == "ran /preferences"
        unchecked = refusals(caplog, "csrf_verdict_unchecked")
        assert len(unchecked) == 1
        assert unchecked[0]["reason"] == "cross_site" and unchecked[0]["path"] == "/preferences"

    def test_verdict_without_the_layer_names_the_fix(self) -> None:
        with pytest.raises(LookupError, match="CSRFProtect"):
            csrf_verdict({})
        with pytest.raises(LookupError, match="CSRFProtect"):
            csrf_refusal({})

    def test_describe_has_the_option(self) -> None:
        assert CSRFProtect(defer_to_framework=True).describe()["defer_to_framework"] is True
        assert CSRFProtect().describe()["defer_to_framework"] is False
