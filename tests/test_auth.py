"""Bearer authentication: RFC 6750 answers, verifiers, path scoping, preflights."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

import pytest
import webtest

from headerware import Stack
from headerware.layers.auth import BearerAuth, bearer_claims
from headerware.layers.cors import CORS
from headerware.options import OptionError
from tests.contract import LayerContract, Recorder, consume, make_environ

KEY = "k" * 32
TOKEN = os.environ.get("HEADERWARE_EXAMPLE_TOKEN", "example-token")


def api_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    claims = bearer_claims(environ)
    body = f"claims={claims!r}".encode()
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), ("X-App", "1")],
    )
    return [body]


def client(**options: Any) -> webtest.TestApp:
    options.setdefault("paths", ["/api/*"])
    if not {"verifier", "tokens", "signed"} & options.keys():
        options["tokens"] = [TOKEN]
    return webtest.TestApp(BearerAuth(api_app, **options), lint=True)


def refusals(caplog: Any) -> list[dict[str, Any]]:
    return [
        r.hw_fields  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "hw_event", "") == "bearer_auth_refused"
    ]


class TestBearerContract(LayerContract):
    def make_layer(self) -> BearerAuth:
        return BearerAuth(tokens=[TOKEN])

    def environ_extra(self) -> dict[str, Any]:
        return {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


class TestBearerContractRefusing(LayerContract):
    """Guarding other paths: the contract's requests to / pass untouched."""

    def make_layer(self) -> BearerAuth:
        return BearerAuth(paths=["/api/*"], tokens=[TOKEN])


AUTH_TABLE = [
    pytest.param(None, 401, None, id="missing"),
    pytest.param("Basic dXNlcjpwYXNz", 401, None, id="other-scheme"),
    pytest.param(f"Bearer {TOKEN}", 200, None, id="valid"),
    pytest.param(f"bearer {TOKEN}", 200, None, id="scheme-case-insensitive"),
    pytest.param(f"Bearer   {TOKEN}  ", 200, None, id="extra-spaces"),
    pytest.param("Bearer wrong-token", 401, "invalid_token", id="wrong"),
    pytest.param(f"Bearer {TOKEN}x", 401, "invalid_token", id="longer"),
    pytest.param(f"Bearer {TOKEN[:-1]}", 401, "invalid_token", id="prefix-of-token"),
    pytest.param("Bearer", 400, "invalid_request", id="empty"),
    pytest.param("Bearer a b", 400, "invalid_request", id="two-tokens"),
    pytest.param("Bearer tok\u00e9n", 400, "invalid_request", id="non-ascii"),
    pytest.param("Bearer a,b", 400, "invalid_request", id="comma"),
]


class TestAnswers:
    @pytest.mark.parametrize(("authorization", "status", "error"), AUTH_TABLE)
    def test_table(
        self, authorization: str | None, status: int, error: str | None, caplog: Any
    ) -> None:
        headers = {"Authorization": authorization} if authorization is not None else {}
        with caplog.at_level(logging.INFO, logger="headerware"):
            response = client().get("/api/protected", headers=headers, status="*")
        assert response.status_int == status
        if status == 200:
            assert response.text == "claims={'token_id': 0}"
            assert refusals(caplog) == []
            return
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="api"')
        if error:
            assert challenge.endswith(f'error="{error}"')
        else:
            assert "error=" not in challenge
        expected = "Bad Request" if status == 400 else "Unauthorized"
        assert response.json == {"error": expected}
        assert "X-App" not in response.headers
        (event,) = refusals(caplog)
        assert event["path"] == "/api/protected"
        assert TOKEN not in caplog.text and "wrong-token" not in caplog.text

    def test_html_for_browsers(self) -> None:
        response = client().get(
            "/api/protected", headers={"Accept": "text/html,*/*;q=0.8"}, status=401
        )
        assert response.content_type == "text/html"
        assert "Unauthorized" in response.text

    def test_preflight_looking_options_without_cors_is_refused(self) -> None:
        """Security fix: no layer answered it, so it is authenticated like any request."""
        called: list[bool] = []

        def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            called.append(True)
            return api_app(environ, start_response)

        stack = Stack([BearerAuth(paths=["/api/*"], tokens=[TOKEN])], app)
        response = webtest.TestApp(stack, lint=True).options(
            "/api/protected",
            headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
            status=401,
        )
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert not called

    def test_real_preflight_is_answered_by_cors_before_auth(self) -> None:
        cors = CORS(allow_origins=["https://app.example.com"], rules={"/api/*": {}})
        stack = Stack([cors, BearerAuth(paths=["/*"], tokens=[TOKEN])], api_app)
        app = webtest.TestApp(stack, lint=True)
        headers = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}
        response = app.options("/api/protected", headers=headers, status="*")
        assert response.status_int in (200, 204)
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        assert "X-App" not in response.headers
        # The same preflight-looking request on a path no CORS rule covers: 401.
        app.options("/other", headers=headers, status=401)

    def test_plain_options_is_guarded(self) -> None:
        client().options("/api/protected", status=401)

    def test_report_only(self, caplog: Any) -> None:
        with caplog.at_level(logging.INFO, logger="headerware"):
            response = client(report_only=True).get(
                "/api/protected", headers={"Authorization": "Bearer nope-nope"}
            )
        assert response.text == "claims=None"
        (event,) = refusals(caplog)
        assert event["report_only"] is True and event["reason"] == "invalid_token"


class TestPaths:
    @pytest.mark.parametrize(
        ("path", "guarded"),
        [
            pytest.param("/api/protected", True, id="glob"),
            pytest.param("/api/v1/deep", True, id="glob-deep"),
            pytest.param("/api", True, id="prefix-itself-as-in-paths"),
            pytest.param("/apix/protected", False, id="no-prefix-surprise"),
            pytest.param("//api/protected", True, id="double-slash"),
            pytest.param("/public/../api/protected", True, id="dot-dot"),
            pytest.param("/./api/protected", True, id="dot"),
            pytest.param("/API/protected", False, id="case-sensitive"),
            pytest.param("/health", True, id="exact"),
            pytest.param("/health/", False, id="exact-not-slash"),
        ],
    )
    def test_matching(self, path: str, guarded: bool) -> None:
        layer = BearerAuth(paths=["/api/*", "/health"], tokens=[TOKEN])
        recorder = Recorder()
        result = Stack([layer], api_app)(make_environ(PATH_INFO=path), recorder)
        consume(result)
        assert recorder.status.startswith("401") is guarded

    @pytest.mark.parametrize(
        "raw",
        [
            pytest.param("/admin/../legacy/x", id="resolves-outside-raw-inside"),
            pytest.param("/legacy/../admin/x", id="resolves-inside"),
            pytest.param("/admin//x", id="double-slash"),
        ],
    )
    def test_guard_applies_when_raw_or_resolved_path_matches(self, raw: str) -> None:
        """A raw ``/admin/..%2flegacy/x`` may be routed by the app below /admin."""
        layer = BearerAuth(paths=["/admin/*"], tokens=[TOKEN])
        recorder = Recorder()
        consume(Stack([layer], api_app)(make_environ(PATH_INFO=raw), recorder))
        assert recorder.status.startswith("401")

    def test_unguarded_path_is_untouched(self) -> None:
        assert client().get("/public").text == "claims=None"

    def test_default_guards_everything(self) -> None:
        app = webtest.TestApp(BearerAuth(api_app, tokens=[TOKEN]))
        app.get("/anything", status=401)


class TestVerifiers:
    def test_callable(self) -> None:
        def verify(token: str) -> dict[str, Any] | None:
            return {"sub": "alice"} if token == "alice-token" else None

        app = client(verifier=verify)
        ok = app.get("/api/x", headers={"Authorization": "Bearer alice-token"})
        assert ok.text == "claims={'sub': 'alice'}"
        app.get("/api/x", headers={"Authorization": "Bearer bob-token"}, status=401)

    def test_callable_that_raises_refuses(self, caplog: Any) -> None:
        def verify(token: str) -> Any:
            raise RuntimeError("verifier bug")

        with caplog.at_level(logging.ERROR, logger="headerware"):
            client(verifier=verify).get(
                "/api/x", headers={"Authorization": "Bearer abcdefgh"}, status=401
            )
        assert "verifier raised" in caplog.text

    def test_mapping_of_tokens(self) -> None:
        app = client(tokens={"token-alice-1": {"sub": "alice"}, "token-bob-22": {"sub": "bob"}})
        response = app.get("/api/x", headers={"Authorization": "Bearer token-bob-22"})
        assert response.text == "claims={'sub': 'bob'}"

    def test_signed_tokens(self) -> None:
        layer = BearerAuth(api_app, paths=["/api/*"], signed=True, secret_keys=[KEY], max_age=60)
        token = layer.issue_token({"sub": "alice", "scope": "read"})
        app = webtest.TestApp(layer, lint=True)
        response = app.get("/api/x", headers={"Authorization": f"Bearer {token}"})
        assert response.text == "claims={'sub': 'alice', 'scope': 'read'}"
        tampered = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
        app.get("/api/x", headers={"Authorization": f"Bearer {tampered}"}, status=401)
        other = BearerAuth(signed=True, secret_keys=["o" * 32]).issue_token({"sub": "eve"})
        app.get("/api/x", headers={"Authorization": f"Bearer {other}"}, status=401)

    def test_signed_token_expiry(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import itsdangerous.timed

        layer = BearerAuth(api_app, signed=True, secret_keys=[KEY], max_age=60)
        token = layer.issue_token({"sub": "alice"})
        app = webtest.TestApp(layer)
        real = itsdangerous.timed.TimestampSigner.get_timestamp
        monkeypatch.setattr(
            itsdangerous.timed.TimestampSigner,
            "get_timestamp",
            lambda self: real(self) + 120,
        )
        response = app.get("/x", headers={"Authorization": f"Bearer {token}"}, status=401)
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]

    @pytest.mark.parametrize(
        ("options", "match"),
        [
            pytest.param({}, "exactly one", id="none"),
            pytest.param({"tokens": ["abcdefgh"], "signed": True}, "exactly one", id="two"),
            pytest.param({"tokens": []}, "exactly one|empty", id="empty-list"),
            pytest.param({"tokens": "abcdefgh"}, "list", id="string"),
            pytest.param({"tokens": ["short"]}, "tokens", id="short-token"),
            pytest.param({"tokens": ["has space"]}, "tokens", id="bad-token"),
            pytest.param({"tokens": ["abcdefgh"], "realm": 'a"b'}, "realm", id="realm-quote"),
            pytest.param({"tokens": ["abcdefgh"], "paths": ["api/*"]}, "paths", id="rel-path"),
            pytest.param({"tokens": ["abcdefgh"], "paths": "/api/*"}, "paths", id="path-string"),
            pytest.param({"verifier": "nope"}, "callable", id="not-callable"),
            pytest.param({"signed": True, "secret_keys": ["short"]}, "secret_keys", id="key"),
        ],
    )
    def test_bad_options(self, options: dict[str, Any], match: str) -> None:
        with pytest.raises(ValueError, match=match) as info:
            BearerAuth(**options)
        if isinstance(info.value, OptionError):
            assert ":" not in info.value.option and " " not in info.value.option

    def test_describe_never_shows_tokens(self) -> None:
        options = BearerAuth(tokens=["secret-token-1"]).describe()
        assert "secret-token-1" not in repr(options)
        assert "tokens" not in options and "verifier" not in options

    @pytest.mark.parametrize(
        "options",
        [
            pytest.param({"signed": True, "secret_keys": ["k" * 32]}, id="issue11-6-signed"),
            pytest.param({"verifier": "tests.test_auth:verify_static"}, id="issue11-6-verifier"),
        ],
    )
    def test_describe_pastes_back(self, options: dict[str, Any]) -> None:
        from headerware.config import stack_from_dict

        layer = stack_from_dict({"bearer_auth": options}).layers[0]
        described = layer.describe()
        assert "secret_keys" not in described
        extra = {"secret_keys": ["k" * 32]} if "signed" in options else {}
        again = stack_from_dict({"bearer_auth": {**described, **extra}}).layers[0]
        assert again.describe() == described


def verify_static(token: str) -> Any:
    return {"sub": "x"} if token == "valid-token-1" else None


class TestExampleContract:
    """The examples' /api/protected row, on a bare app."""

    def test_without_and_with_the_token(self) -> None:
        app = client(paths=["/api/*"])
        response = app.get("/api/protected", status=401)
        assert response.json == {"error": "Unauthorized"}
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        ok = app.get("/api/protected", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_int == 200
