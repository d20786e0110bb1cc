"""Sessions with the signed-cookie store: laziness, writes, timeouts, tampering, flags."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable
from typing import Any

import flask
import pytest
import webtest

from headerware import Context, Layer, Stack
from headerware.crypto import CookieSigner
from headerware.layers import sessions as sessions_module
from headerware.layers.sessions import SESSION_KEY, Session, Sessions, get_session
from headerware.memo import clear_all
from headerware.options import OptionError
from headerware.stores import CookieStore
from tests.contract import LayerContract, Recorder, consume, make_environ

KEY = "k" * 32
OLD_KEY = "o" * 32


def session_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """A bare WSGI app with the routes the session tests need."""
    session = get_session(environ)
    path = environ["PATH_INFO"]
    if path == "/login":
        session.regenerate()
        session["user_id"] = 42
    elif path == "/logout":
        session.clear()
    elif path == "/cart":
        session.setdefault("cart", []).append("apple")
    elif path == "/big":
        session["blob"] = "x" * 5000
    elif path == "/quiet":
        body = b"no session"
        start_response("200 OK", [("Content-Type", "text/plain"), ("Vary", "Accept")])
        return [body]
    body = f"user {session.get('user_id')}".encode()
    headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    headers.append(("Set-Cookie", "other=1; Path=/"))
    start_response("200 OK", headers)
    return [body]


def make_app(**options: Any) -> webtest.TestApp:
    options.setdefault("secret_keys", [KEY])
    return webtest.TestApp(Sessions(session_app, **options), lint=True)


def session_cookies(response: webtest.TestResponse, name: str = "session") -> list[str]:
    return [v for v in response.headers.getall("Set-Cookie") if v.startswith(name + "=")]


def cookie_value(response: webtest.TestResponse, name: str = "session") -> str:
    (header,) = session_cookies(response, name)
    return header.split(";", 1)[0].split("=", 1)[1]


def decode(value: str) -> dict[str, Any]:
    payload = CookieSigner([KEY], salt="headerware.session.data").unsign(value)
    assert payload is not None
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "==="))
    return data


class FakeClock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: int = 1_800_000_000) -> None:
        self.now = start
        monkeypatch.setattr(sessions_module, "_now", lambda: self.now)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    return FakeClock(monkeypatch)


class TestSessionsContract(LayerContract):
    def make_layer(self) -> Sessions:
        return Sessions(secret_keys=[KEY])


class TestSessionsContractWithCookie(LayerContract):
    """The contract with a session cookie on every request (the app never reads it)."""

    def make_layer(self) -> Sessions:
        return Sessions(secret_keys=[KEY])

    def environ_extra(self) -> dict[str, Any]:
        app = make_app()
        value = cookie_value(app.get("/login"))
        return {"HTTP_COOKIE": f"session={value}"}


class TestLaziness:
    def test_untouched_session_costs_no_parse_and_leaves_the_response(self) -> None:
        seen: list[Context] = []

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            assert isinstance(environ[SESSION_KEY], Session)
            start_response("200 OK", [("Content-Type", "text/plain"), ("Vary", "Accept")])
            return [b"ok"]

        body = [b"ok"]
        recorder = Recorder()

        class Capture(Layer):
            def on_request(self, ctx: Context) -> None:
                seen.append(ctx)

        stack = Stack([Capture(), Sessions(secret_keys=[KEY])], app)
        result = stack(make_environ(HTTP_COOKIE="session=garbage; a=b"), recorder)
        assert consume(result) == b"".join(body)
        assert seen[0]._cookies is None, "the cookie header was parsed without need"
        assert recorder.headers == [("Content-Type", "text/plain"), ("Vary", "Accept")]

    def test_get_session_without_layer(self) -> None:
        with pytest.raises(LookupError, match="Sessions"):
            get_session({})


class TestWrites:
    def test_login_sets_flags_and_vary(self) -> None:
        response = make_app().get("/login")
        (header,) = session_cookies(response)
        assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
        assert "Secure" not in header
        assert "Max-Age=604800" in header
        assert response.headers["Vary"] == "Cookie"
        assert "other=1; Path=/" in response.headers.getall("Set-Cookie")
        assert decode(cookie_value(response))["d"] == {"user_id": 42}

    def test_secure_on_https(self) -> None:
        response = make_app().get("https://localhost/login")
        (header,) = session_cookies(response)
        assert "Secure" in header

    def test_host_prefix_is_always_secure(self) -> None:
        response = make_app(cookie_name="__Host-session").get("/login")
        (header,) = session_cookies(response, "__Host-session")
        assert "Secure" in header and "Path=/" in header and "Domain" not in header

    def test_read_only_request_writes_nothing(self, clock: FakeClock) -> None:
        app = make_app()
        app.get("/login")
        clock.now += 60
        response = app.get("/dashboard")
        assert response.text == "user 42"
        assert session_cookies(response) == []
        assert response.headers["Vary"] == "Cookie"

    def test_vary_merged_with_the_apps(self) -> None:
        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            get_session(environ).get("x")
            start_response("200 OK", [("Content-Type", "text/plain"), ("Vary", "Accept")])
            return [b"ok"]

        response = webtest.TestApp(Sessions(app, secret_keys=[KEY])).get("/")
        assert response.headers.getall("Vary") == ["Accept, Cookie"]

    def test_refresh_interval_rewrites_an_active_session(self, clock: FakeClock) -> None:
        app = make_app(refresh_interval=3600)
        first = cookie_value(app.get("/login"))
        clock.now += 3599
        assert session_cookies(app.get("/dashboard")) == []
        clock.now += 2
        second = app.get("/dashboard")
        refreshed = decode(cookie_value(second))
        assert refreshed["t"] == clock.now
        assert refreshed["c"] == decode(first)["c"]

    def test_nested_change_is_detected(self) -> None:
        app = make_app()
        app.get("/login")
        response = app.get("/cart")
        assert decode(cookie_value(response))["d"]["cart"] == ["apple"]
        response = app.get("/cart")
        assert decode(cookie_value(response))["d"]["cart"] == ["apple", "apple"]

    def test_clear_deletes_the_cookie(self) -> None:
        app = make_app()
        app.get("/login")
        response = app.get("/logout")
        (header,) = session_cookies(response)
        assert header.startswith("session=;") and "Max-Age=0" in header
        assert app.get("/dashboard").text == "user None"

    def test_regenerate_issues_a_new_cookie_and_restarts_the_lifetime(
        self, clock: FakeClock
    ) -> None:
        app = make_app()
        first = decode(cookie_value(app.get("/login")))
        clock.now += 100
        second = decode(cookie_value(app.get("/login")))
        assert second["c"] == first["c"] + 100
        assert second["d"] == {"user_id": 42}

    def test_non_json_value_fails_in_the_app(self) -> None:
        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            with pytest.raises(TypeError, match="not JSON"):
                get_session(environ)["when"] = object()
            with pytest.raises(TypeError, match="NaN"):
                get_session(environ)["nan"] = float("nan")
            with pytest.raises(TypeError, match="keys must be str"):
                get_session(environ)["d"] = {1: 2}
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]

        response = webtest.TestApp(Sessions(app, secret_keys=[KEY])).get("/")
        assert response.text == "ok"
        assert session_cookies(response) == []

    def test_too_large_session_is_refused_and_logged(self, caplog: Any) -> None:
        app = make_app()
        app.get("/login")
        with caplog.at_level(logging.WARNING, logger="headerware"):
            response = app.get("/big")
        assert response.status_int == 200
        assert response.text == "user 42"
        assert session_cookies(response) == []  # the client keeps its previous cookie
        assert "other=1; Path=/" in response.headers.getall("Set-Cookie")
        (record,) = [r for r in caplog.records if getattr(r, "hw_event", "") == "session_too_large"]
        assert record.hw_fields["size"] > 4000  # type: ignore[attr-defined]
        assert app.get("/dashboard").text == "user 42"


class TestRejectedCookies:
    @pytest.mark.parametrize(
        ("cookie", "reason"),
        [
            pytest.param("session=notsigned", "unsigned", id="unsigned"),
            pytest.param("session=abc.def", "bad_signature", id="bad-signature"),
            pytest.param(
                "session=" + CookieSigner([KEY], "headerware.session.data").sign("!!"),
                "malformed",
                id="malformed-payload",
            ),
            pytest.param(
                "session="
                + CookieSigner([KEY], "headerware.session.data").sign(
                    base64.urlsafe_b64encode(b'{"d":[]}').decode().rstrip("=")
                ),
                "malformed",
                id="wrong-shape",
            ),
            pytest.param(
                "session=" + CookieSigner([KEY], "headerware.other").sign("e30"),
                "bad_signature",
                id="other-salt",
            ),
        ],
    )
    def test_bad_cookie_reads_as_new_and_is_deleted(
        self, cookie: str, reason: str, caplog: Any
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="headerware"):
            response = make_app().get("/dashboard", headers={"Cookie": cookie + "; keep=1"})
        assert response.text == "user None"
        (header,) = session_cookies(response)
        assert "Max-Age=0" in header
        assert "other=1; Path=/" in response.headers.getall("Set-Cookie")
        events = [r for r in caplog.records if getattr(r, "hw_event", "") == "session_rejected"]
        assert [e.hw_fields["reason"] for e in events] == [reason]  # type: ignore[attr-defined]
        assert "abc" not in caplog.text or reason != "bad_signature" or "def" not in caplog.text

    def test_conflicting_duplicate_is_tampering(self, caplog: Any) -> None:
        value = cookie_value(make_app().get("/login"))
        with caplog.at_level(logging.WARNING, logger="headerware"):
            response = make_app().get(
                "/dashboard", headers={"Cookie": f"session={value}; session=other"}
            )
        assert response.text == "user None"
        assert any(getattr(r, "hw_fields", {}).get("reason") == "duplicate" for r in caplog.records)

    def test_old_key_still_verifies_after_rotation(self) -> None:
        old = make_app(secret_keys=[OLD_KEY])
        value = cookie_value(old.get("/login"))
        rotated = make_app(secret_keys=[KEY, OLD_KEY])
        response = rotated.get("/dashboard", headers={"Cookie": f"session={value}"})
        assert response.text == "user 42"
        dropped = make_app(secret_keys=[KEY])
        response = dropped.get("/dashboard", headers={"Cookie": f"session={value}"})
        assert response.text == "user None"


class TestTimeouts:
    @pytest.mark.parametrize(
        ("options", "steps", "expected"),
        [
            pytest.param(
                {"idle_timeout": 100, "refresh_interval": None},
                [101],
                "user None",
                id="idle-expired",
            ),
            pytest.param(
                {"idle_timeout": 100, "refresh_interval": None}, [99], "user 42", id="idle-fresh"
            ),
            pytest.param(
                {"idle_timeout": 100, "refresh_interval": 50},
                [60, 60, 60],
                "user 42",
                id="refresh-keeps-active-session",
            ),
            pytest.param(
                {"idle_timeout": 100, "refresh_interval": 50, "absolute_timeout": 150},
                [60, 60, 60],
                "user None",
                id="absolute-ends-it-anyway",
            ),
        ],
    )
    def test_timeouts(
        self,
        clock: FakeClock,
        options: dict[str, Any],
        steps: list[int],
        expected: str,
        caplog: Any,
    ) -> None:
        app = make_app(**options)
        app.get("/login")
        response = None
        with caplog.at_level(logging.INFO, logger="headerware"):
            for step in steps:
                clock.now += step
                response = app.get("/dashboard")
        assert response is not None and response.text == expected
        if expected == "user None":
            assert any(getattr(r, "hw_event", "") == "session_expired" for r in caplog.records)

    def test_max_age_is_bounded_by_the_absolute_timeout(self, clock: FakeClock) -> None:
        app = make_app(idle_timeout=1000, absolute_timeout=1500, refresh_interval=100)
        app.get("/login")
        clock.now += 900
        (header,) = session_cookies(app.get("/dashboard"))
        assert "Max-Age=600" in header


class TestConfiguration:
    @pytest.mark.parametrize(
        ("options", "match"),
        [
            pytest.param({"samesite": "lax-ish"}, "samesite", id="samesite"),
            pytest.param({"samesite": "None", "secure": False}, "secure", id="none-insecure"),
            pytest.param(
                {"cookie_name": "__Host-s", "secure": False}, "secure", id="host-insecure"
            ),
            pytest.param(
                {"cookie_name": "__Host-s", "domain": "example.com"}, "__Host-", id="host-domain"
            ),
            pytest.param({"cookie_name": "a b"}, "cookie_name", id="bad-name"),
            pytest.param({"idle_timeout": 0}, "idle_timeout", id="zero-idle"),
            pytest.param(
                {"idle_timeout": 100, "refresh_interval": 100},
                "refresh_interval",
                id="refresh-not-shorter",
            ),
            pytest.param({"store": "redis"}, "store", id="bad-store"),
            pytest.param({"secret_keys": ["short"]}, "secret_keys", id="short-key"),
            pytest.param({"path": "nope"}, "path", id="bad-path"),
        ],
    )
    def test_bad_options_fail_at_start_up(self, options: dict[str, Any], match: str) -> None:
        options.setdefault("secret_keys", [KEY])
        with pytest.raises(ValueError, match=match) as info:
            Sessions(**options)
        if isinstance(info.value, OptionError):
            assert info.value.option in options or info.value.option == "cookie_name"

    def test_no_key_names_the_setting(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("HEADERWARE_SECRET_KEYS", raising=False)
        with pytest.raises(ValueError, match="HEADERWARE_SECRET_KEYS"):
            Sessions()

    def test_cookie_store_max_size_range(self) -> None:
        with pytest.raises(OptionError, match="max_size") as info:
            CookieStore(max_size=10_000)
        assert info.value.option == "max_size"

    @pytest.mark.parametrize(
        "options",
        [
            pytest.param({}, id="issue11-6-secure-follows-https"),
            pytest.param({"secure": True, "samesite": "None"}, id="issue11-6-secure-true"),
            pytest.param({"secure": False, "user_key": "account"}, id="issue11-6-secure-false"),
        ],
    )
    def test_describe_pastes_back(self, options: dict[str, Any]) -> None:
        """describe() is option-shaped: what check-config prints builds the same layer
        (``secure`` was ``"https"``, which the option refuses)."""
        from headerware.config import stack_from_dict

        described = Sessions(secret_keys=[KEY], **options).describe()
        assert KEY not in json.dumps(described) and "secret_keys" not in described
        assert described["store"] == {"use": "headerware.stores:CookieStore", "max_size": 4000}
        assert described["secure"] == options.get("secure")
        table = {key: value for key, value in described.items() if value is not None}
        again = stack_from_dict({"sessions": {**table, "secret_keys": [KEY]}}).layers[0]
        assert again.describe() == described


class TestFlask:
    def test_session_through_flask(self) -> None:
        flask_app = flask.Flask(__name__)

        @flask_app.route("/login")
        def login() -> str:
            session = get_session(flask.request.environ)
            session.regenerate()
            session["user_id"] = 42
            return "ok"

        @flask_app.route("/dashboard")
        def dashboard() -> str:
            user = get_session(flask.request.environ).get("user_id")
            return f"Welcome user #{user}" if user else "Please log in"

        app = webtest.TestApp(Sessions(flask_app.wsgi_app, secret_keys=[KEY]), lint=True)
        assert app.get("/dashboard").text == "Please log in"
        app.get("/login")
        assert app.get("/dashboard").text == "Welcome user #42"


class TestRememberedCookies:
    """Repeat requests with the same cookie skip verification, never its checks."""

    def test_each_request_gets_its_own_data(self) -> None:
        seen: list[Any] = []

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            session = get_session(environ)
            if environ["PATH_INFO"] == "/login":
                session["user_id"] = 42
                session["cart"] = ["apple"]
            else:
                seen.append(json.loads(json.dumps(dict(session))))
                session["cart"].append("pear")  # nested change, detected per request
                session["user_id"] = 7
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]

        layer = Sessions(secret_keys=[KEY])
        client = webtest.TestApp(Stack([layer], app), lint=True)
        value = cookie_value(client.get("/login"))
        for _ in range(3):
            response = client.get("/read", headers={"Cookie": f"session={value}"})
            assert decode(cookie_value(response))["d"] == {"user_id": 7, "cart": ["apple", "pear"]}
        assert seen == [{"user_id": 42, "cart": ["apple"]}] * 3

    def test_flat_session_changes_do_not_leak_into_the_next_request(self) -> None:
        layer = Sessions(secret_keys=[KEY])

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            session = get_session(environ)
            body = f"user {session.get('user_id')}".encode()
            if environ["PATH_INFO"] == "/login":
                session["user_id"] = 42
            else:
                session["user_id"] = 99
                session.clear()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [body]

        client = webtest.TestApp(Stack([layer], app), lint=True)
        value = cookie_value(client.get("/login"))
        for _ in range(3):
            response = client.get("/x", headers={"Cookie": f"session={value}"})
            assert response.text == "user 42"

    def test_tampered_cookie_after_a_good_one_is_still_rejected(self, caplog: Any) -> None:
        app = make_app()
        value = cookie_value(app.get("/login"))
        signature = value.rpartition(".")[2]
        forged = base64.urlsafe_b64encode(b'{"d":{"user_id":1},"c":1,"t":1}').decode()
        with caplog.at_level(logging.WARNING, logger="headerware"):
            for _ in range(2):
                good = app.get("/dashboard", headers={"Cookie": f"session={value}"})
                assert good.text == "user 42"
                bad = app.get(
                    "/dashboard", headers={"Cookie": f"session={forged.rstrip('=')}.{signature}"}
                )
                assert bad.text == "user None"
        reasons = [
            r.hw_fields["reason"]  # type: ignore[attr-defined]
            for r in caplog.records
            if getattr(r, "hw_event", "") == "session_rejected"
        ]
        assert reasons == ["bad_signature", "bad_signature"]

    def test_remembered_cookie_still_times_out(self, clock: FakeClock, caplog: Any) -> None:
        app = make_app(idle_timeout=100, refresh_interval=None)
        value = cookie_value(app.get("/login"))
        assert app.get("/dashboard", headers={"Cookie": f"session={value}"}).text == "user 42"
        clock.now += 101
        with caplog.at_level(logging.INFO, logger="headerware"):
            response = app.get("/dashboard", headers={"Cookie": f"session={value}"})
        assert response.text == "user None"
        assert "Max-Age=0" in session_cookies(response)[0]
        assert any(getattr(r, "hw_event", "") == "session_expired" for r in caplog.records)

    def test_remembered_cookie_sent_twice_with_another_value_is_tampering(
        self, caplog: Any
    ) -> None:
        app = make_app()
        value = cookie_value(app.get("/login"))
        assert app.get("/dashboard", headers={"Cookie": f"session={value}"}).text == "user 42"
        with caplog.at_level(logging.WARNING, logger="headerware"):
            response = app.get("/dashboard", headers={"Cookie": f"session={value}; session=x"})
        assert response.text == "user None"
        assert any(getattr(r, "hw_fields", {}).get("reason") == "duplicate" for r in caplog.records)

    def test_remembering_is_only_an_optimisation(self) -> None:
        """Forgetting every remembered cookie (a full memo is cleared) changes nothing."""
        layer = Sessions(secret_keys=[KEY])
        client = webtest.TestApp(Stack([layer], session_app), lint=True)
        for round_ in range(4):
            value = cookie_value(client.get("/login"))
            client.reset()
            for _ in range(2):
                if round_ % 2:
                    clear_all()
                response = client.get("/dashboard", headers={"Cookie": f"session={value}"})
                assert response.text == "user 42"

    def test_vary_appended_when_the_app_sent_none_and_merged_otherwise(self) -> None:
        app = make_app()
        value = cookie_value(app.get("/login"))
        response = app.get("/dashboard", headers={"Cookie": f"session={value}"})
        assert response.headers.getall("Vary") == ["Cookie"]
