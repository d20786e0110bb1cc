"""Content negotiation: q-values, wildcards, q=0, Vary, helpers, 406."""

from __future__ import annotations

from typing import Any

import pytest
import webtest

from headerware import Layer, Stack
from headerware.layers.negotiation import (
    LANGUAGE_KEY,
    MEDIA_TYPE_KEY,
    Negotiation,
    negotiate_language,
    negotiate_media_type,
    negotiated_language,
    negotiated_media_type,
)
from headerware.memo import clear_all
from headerware.options import OptionError
from tests.contract import LayerContract, Recorder, consume, make_environ, text_app

MEDIA = ["application/json", "text/html"]
LANGS = ["en", "es"]


def layer(**extra: Any) -> Negotiation:
    options: dict[str, Any] = {"media_types": {"/data": MEDIA}, "languages": {"/hello": LANGS}}
    options.update(extra)
    return Negotiation(**options)


def example_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """/data and /hello as the examples serve them, reading headerware's choice."""
    if environ["PATH_INFO"] == "/data":
        if negotiated_media_type(environ) == "application/json":
            body, ctype = b'{"message": "Hello JSON!"}', "application/json"
        else:
            body, ctype = b"<p>Hello HTML!</p>", "text/html; charset=utf-8"
    elif environ["PATH_INFO"] == "/hello":
        spanish = negotiated_language(environ) == "es"
        body, ctype = ("¡Hola!" if spanish else "Hello!").encode(), "text/plain; charset=utf-8"
    else:
        body, ctype = b"other", "text/plain"
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


def run(wsgi: Any, **environ: Any) -> tuple[Recorder, bytes]:
    recorder = Recorder()
    body = consume(wsgi(make_environ(**environ), recorder))
    return recorder, body


class TestContract(LayerContract):
    def make_layer(self) -> Layer:
        return Negotiation(media_types={"/*": MEDIA}, languages={"/*": LANGS})

    def environ_extra(self) -> dict[str, Any]:
        return {"HTTP_ACCEPT": "text/html", "HTTP_ACCEPT_LANGUAGE": "es"}


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        pytest.param(None, "application/json", id="absent-first-offer"),
        pytest.param("application/json", "application/json", id="json"),
        pytest.param("text/html", "text/html", id="html"),
        pytest.param("application/json;q=0.9, text/html", "text/html", id="q-values"),
        pytest.param("text/html;q=0.5, application/json;q=0.8", "application/json", id="q-order"),
        pytest.param("*/*", "application/json", id="wildcard"),
        pytest.param("text/*", "text/html", id="type-wildcard"),
        pytest.param("application/json;q=0, */*", "text/html", id="q0-excludes"),
        pytest.param("text/html, application/json", "application/json", id="tie-server-order"),
        pytest.param("image/png", "application/json", id="none-acceptable-default"),
        pytest.param("application/json;q=0", "application/json", id="all-refused-default"),
        pytest.param("garbage;;;q=x", "application/json", id="malformed"),
    ],
)
def test_media_type(accept: str | None, expected: str) -> None:
    environ = {"PATH_INFO": "/data"}
    if accept is not None:
        environ["HTTP_ACCEPT"] = accept
    recorder, body = run(Stack([layer()], example_app), **environ)
    assert recorder.status == "200 OK"
    assert recorder.header_values("Vary") == ["Accept"]
    assert (b"JSON" in body) is (expected == "application/json")


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        pytest.param("en, es;q=0", "en", id="seed-bug-q0-is-not-spanish"),
        pytest.param("es;q=0, en", "en", id="seed-bug-reordered"),
        pytest.param("es;q=0", "en", id="only-refused-spanish"),
        pytest.param("es", "es", id="spanish"),
        pytest.param("es-MX", "es", id="region-fallback"),
        pytest.param("es-MX, en;q=0.5", "es", id="preferred-region-falls-back-first"),
        pytest.param("en-US, es;q=0.8", "en", id="region-of-preferred-language"),
        pytest.param("es-MX, es;q=0", "en", id="refused-language-not-reached-by-fallback"),
        pytest.param("fr, es;q=0.3, en;q=0.2", "es", id="q-order"),
        pytest.param("en-US,en;q=0.9", "en", id="browser-like"),
        pytest.param("de", "en", id="no-match-default"),
        pytest.param(None, "en", id="absent"),
        pytest.param("*", "en", id="wildcard"),
    ],
)
def test_language(accept_language: str | None, expected: str) -> None:
    environ = {"PATH_INFO": "/hello"}
    if accept_language is not None:
        environ["HTTP_ACCEPT_LANGUAGE"] = accept_language
    recorder, body = run(Stack([layer()], example_app), **environ)
    assert recorder.header_values("Vary") == ["Accept-Language"]
    assert body == ("¡Hola!" if expected == "es" else "Hello!").encode()


def test_environ_keys_and_other_routes() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update({k: environ.get(k) for k in (MEDIA_TYPE_KEY, LANGUAGE_KEY)})
        return text_app()(environ, start_response)  # type: ignore[no-any-return]

    recorder, _ = run(Stack([layer()], app), PATH_INFO="/other", HTTP_ACCEPT="text/html")
    assert seen == {MEDIA_TYPE_KEY: None, LANGUAGE_KEY: None}
    assert not recorder.header_values("Vary")
    run(Stack([layer()], app), PATH_INFO="/data", HTTP_ACCEPT="text/html")
    assert seen[MEDIA_TYPE_KEY] == "text/html"


class TestNotAcceptable:
    def test_406_lists_what_is_available(self) -> None:
        called: list[bool] = []

        def app(environ: Any, start_response: Any) -> Any:
            called.append(True)
            return text_app()(environ, start_response)

        stack = Stack([layer(not_acceptable=True)], app)
        recorder, body = run(stack, PATH_INFO="/data", HTTP_ACCEPT="image/png")
        assert recorder.status == "406 Not Acceptable"
        assert b"application/json, text/html" in body
        assert recorder.header_values("Vary") == ["Accept"]
        assert not called

    def test_acceptable_still_served(self) -> None:
        stack = Stack([layer(not_acceptable=True)], example_app)
        recorder, body = run(stack, PATH_INFO="/hello", HTTP_ACCEPT_LANGUAGE="en, es;q=0")
        assert recorder.status == "200 OK" and body == b"Hello!"
        recorder, _ = run(stack, PATH_INFO="/hello", HTTP_ACCEPT_LANGUAGE="es;q=0")
        assert recorder.status == "406 Not Acceptable"


class TestHelpers:
    def test_per_request_offers_with_the_layer(self) -> None:
        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            media = negotiate_media_type(environ, ["text/csv", "application/json"])
            language = negotiate_language(environ, ["de", "fr"], default="de")
            body = f"{media} {language}".encode()
            start_response("200 OK", [("Content-Type", "text/plain"), ("Vary", "Cookie")])
            return [body]

        recorder, body = run(
            Stack([Negotiation()], app),
            HTTP_ACCEPT="application/json, text/csv;q=0.1",
            HTTP_ACCEPT_LANGUAGE="fr;q=0, it",
        )
        assert body == b"application/json de"
        assert recorder.header_values("Vary") == ["Cookie, Accept, Accept-Language"]

    def test_helpers_without_the_layer(self) -> None:
        environ = make_environ(HTTP_ACCEPT_LANGUAGE="en, es;q=0")
        assert negotiate_language(environ, ["es", "en"]) == "en"
        assert negotiated_language(environ) == "en"
        assert negotiate_media_type(environ, ["text/html"]) == "text/html"  # no Accept
        assert negotiated_media_type(environ) == "text/html"
        assert negotiate_language(make_environ(HTTP_ACCEPT_LANGUAGE="de"), ["en"]) is None
        assert negotiated_media_type(make_environ()) is None
        assert negotiate_media_type(make_environ(), []) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"media_types": {"/data": "text/html"}}, "non-empty list", id="string"),
        pytest.param({"media_types": {"/data": []}}, "non-empty list", id="empty"),
        pytest.param({"media_types": {"/data": ["html"]}}, "concrete media type", id="no-slash"),
        pytest.param({"media_types": {"/data": ["text/*"]}}, "concrete media type", id="wildcard"),
        pytest.param({"languages": {"/hello": ["en us"]}}, "language tag", id="bad-language"),
        pytest.param({"languages": {"hello": ["en"]}}, "start with '/'", id="bad-pattern"),
    ],
)
def test_configuration_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(OptionError, match=message) as info:
        Negotiation(**options)
    assert info.value.option in {"media_types", "languages"}


def test_describe() -> None:
    described = layer().describe()
    assert described == {
        "media_types": {"/data": MEDIA},
        "languages": {"/hello": LANGS},
        "not_acceptable": False,
    }
    assert Negotiation(**described).describe() == described  # option-shaped: pastes back


def test_webtest() -> None:
    app = webtest.TestApp(Stack([layer()], example_app), lint=True)
    response = app.get("/data", headers={"Accept": "application/json"})
    assert response.json == {"message": "Hello JSON!"}
    assert response.headers["Vary"] == "Accept"
    response = app.get("/hello", headers={"Accept-Language": "en, es;q=0"})
    assert response.text == "Hello!"


# -- remembered choices ------------------------------------------------------------------


def test_remembered_choices_are_keyed_by_header_and_offers() -> None:
    clear_all()
    accept = "application/json;q=0.9, text/html"
    for _ in range(2):  # the second round is answered from what was remembered
        environ = make_environ(HTTP_ACCEPT=accept, HTTP_ACCEPT_LANGUAGE="es-MX, en;q=0.5")
        assert negotiate_media_type(environ, ["application/json", "text/html"]) == "text/html"
        assert negotiate_media_type(environ, ["application/json", "image/png"]) == (
            "application/json"
        )
        assert negotiate_media_type(environ, ["image/png"], default="x") == "x"
        assert negotiate_language(environ, ["en", "es"]) == "es"
        assert negotiate_language(environ, ["en", "de"]) == "en"


def test_many_and_long_headers_still_chosen_right() -> None:
    for index in range(600):
        environ = make_environ(HTTP_ACCEPT=f"text/html;q=0.{index % 9 + 1}, application/json")
        assert negotiate_media_type(environ, ["text/html", "application/json"]) == (
            "application/json"
        )
    long_accept = "text/html, " + ", ".join(f"x/y{i}" for i in range(200))
    for _ in range(2):
        assert negotiate_media_type(make_environ(HTTP_ACCEPT=long_accept), ["text/html"]) == (
            "text/html"
        )


def _huge(first: str, last: str) -> str:
    """A 700 KiB header: ``first``, padding, then ``last`` (beyond the parse cap)."""
    padding = ", ".join(["x-pad;q=0.1"] * (700 * 1024 // 13))
    return f"{first}, {padding}, {last}"


HUGE_ACCEPT = _huge("text/html;q=0.5", "application/json")
HUGE_LANGUAGE = _huge("es;q=0.5", "en")


@pytest.mark.parametrize(
    "via",
    [
        pytest.param("layer", id="issue11-8-layer-huge-accept"),
        pytest.param("helper", id="issue11-8-helper-huge-accept"),
    ],
)
def test_huge_accept_is_answered_from_its_first_entries(via: str) -> None:
    """Issue 11 item 8: a 700 KiB Accept is cut at the context's ACCEPT_LIMIT (its
    first entries decide; the late, preferred entry is never parsed), layer and
    helpers alike, and the answer is still right."""
    assert len(HUGE_ACCEPT) > 700 * 1024

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if via == "helper":
            negotiate_media_type(environ, MEDIA)
            negotiate_language(environ, LANGS)
        media, language = negotiated_media_type(environ), negotiated_language(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{media} {language}".encode()]

    stack = Stack([layer(languages={"/data": LANGS})] if via == "layer" else [Negotiation()], app)
    recorder, body = run(
        stack, PATH_INFO="/data", HTTP_ACCEPT=HUGE_ACCEPT, HTTP_ACCEPT_LANGUAGE=HUGE_LANGUAGE
    )
    assert recorder.status == "200 OK"
    assert body == b"text/html es"
    assert recorder.header_values("Vary") == ["Accept, Accept-Language"]


def test_layer_vary_and_helper_vary_merge() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        negotiate_language(environ, ["en"])
        return example_app(environ, start_response)

    recorder, _ = run(Stack([layer()], app), PATH_INFO="/data", HTTP_ACCEPT="text/html")
    assert recorder.header_values("Vary") == ["Accept, Accept-Language"]


def test_offers_apply_only_when_raw_and_resolved_path_agree() -> None:
    seen: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(negotiated_media_type(environ))
        return text_app()(environ, start_response)  # type: ignore[no-any-return]

    stack = Stack([layer()], app)
    run(stack, PATH_INFO="//data", HTTP_ACCEPT="text/html")
    run(stack, PATH_INFO="/hello/../data", HTTP_ACCEPT="text/html")
    assert seen == ["text/html", None]


def test_helpers_accept_lists_and_odd_offers() -> None:
    environ = make_environ(HTTP_ACCEPT="text/html")
    assert negotiate_media_type(environ, ["text/html"]) == "text/html"
    assert negotiate_media_type(environ, []) is None
