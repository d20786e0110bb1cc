"""Plain itsdangerous and SignedCookies read each other's cookies (issue 12).

Every signer here is built only from the parameters the documentation of
:mod:`headerware.crypto` ("The signed-cookie format") lists: the keys as UTF-8 bytes
(oldest first for itsdangerous), the salt ``f"{salt}:{name}"``, ``"hmac"`` key
derivation, SHA-256, and ``TimestampSigner`` when ``max_age`` is set. Cookies go
through real WebTest requests (with ``wsgiref`` lint) of an application wrapped in
:class:`~headerware.SignedCookies`.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable
from http.cookies import SimpleCookie
from typing import Any

import itsdangerous
import pytest
import webtest

import headerware.crypto
from headerware import SignedCookies, Stack

OLD_KEY = "interop-old-key-0123456789abcdefghij"
NEW_KEY = "interop-new-key-abcdefghij0123456789"
#: Newest first, as ``HEADERWARE_SECRET_KEYS`` lists them.
KEYS = [NEW_KEY, OLD_KEY]
DEFAULT_SALT = "headerware.signed-cookie"


def _signer(
    keys: list[str], *, name: str = "username", salt: str = DEFAULT_SALT, timed: bool = False
) -> itsdangerous.Signer:
    """An itsdangerous signer from the documented parameters, nothing else."""
    cls = itsdangerous.TimestampSigner if timed else itsdangerous.Signer
    return cls(
        [key.encode("utf-8") for key in reversed(keys)],  # itsdangerous: newest key last
        salt=f"{salt}:{name}",
        key_derivation="hmac",
        digest_method=hashlib.sha256,
    )


def _app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """``/set`` sets ``username=john_doe``, ``/set-quoted`` ``username="john_doe"``;
    every other path answers with the ``username`` cookie it was given."""
    if environ["PATH_INFO"] in ("/set", "/set-quoted"):
        value = '"john_doe"' if environ["PATH_INFO"] == "/set-quoted" else "john_doe"
        headers = [("Content-Type", "text/plain"), ("Set-Cookie", f"username={value}; Path=/")]
        start_response("200 OK", headers)
        return [b"set"]
    jar: SimpleCookie = SimpleCookie()
    jar.load(environ.get("HTTP_COOKIE", ""))
    seen = jar["username"].value if "username" in jar else "<none>"
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [seen.encode("utf-8")]


def _client(**options: Any) -> webtest.TestApp:
    options.setdefault("cookies", ["username"])
    options.setdefault("secret_keys", KEYS)
    return webtest.TestApp(Stack([SignedCookies(**options)], _app), lint=True)


def _set_cookie_value(response: webtest.TestResponse, name: str = "username") -> str:
    for header in response.headers.getall("Set-Cookie"):
        first = header.split(";", 1)[0]
        if first.startswith(f"{name}="):
            return first[len(name) + 1 :]
    raise AssertionError(f"no Set-Cookie for {name}")


def _seen(client: webtest.TestApp, cookie_value: str) -> str:
    return str(client.get("/echo", headers={"Cookie": f"username={cookie_value}"}).text)


# -- itsdangerous verifies what SignedCookies signs -----------------------------------------


def test_itsdangerous_verifies_a_signed_cookie() -> None:
    value = _set_cookie_value(_client().get("/set"))
    assert value.startswith("john_doe.")
    assert _signer(KEYS).unsign(value) == b"john_doe"
    # the newest key signed it: itsdangerous with that key alone agrees
    assert _signer([NEW_KEY]).unsign(value) == b"john_doe"
    with pytest.raises(itsdangerous.BadSignature):
        _signer([OLD_KEY]).unsign(value)


def test_itsdangerous_verifies_a_timestamped_cookie() -> None:
    value = _set_cookie_value(_client(max_age=3600).get("/set"))
    assert value.count(".") == 2  # value.timestamp.signature
    unsigned, issued = _signer(KEYS, timed=True).unsign(value, max_age=3600, return_timestamp=True)
    assert unsigned == b"john_doe"
    assert abs(issued.timestamp() - time.time()) < 5


def test_itsdangerous_verifies_a_custom_salt() -> None:
    value = _set_cookie_value(_client(salt="myapp.cookies").get("/set"))
    assert _signer(KEYS, salt="myapp.cookies").unsign(value) == b"john_doe"
    with pytest.raises(itsdangerous.BadSignature):
        _signer(KEYS).unsign(value)


def test_the_salt_binds_the_cookie_name() -> None:
    value = _set_cookie_value(_client().get("/set"))
    with pytest.raises(itsdangerous.BadSignature):
        _signer(KEYS, name="other").unsign(value)


def test_a_quoted_value_is_signed_inside_its_quotes() -> None:
    value = _set_cookie_value(_client().get("/set-quoted"))
    assert value.startswith('"john_doe.') and value.endswith('"')
    assert _signer(KEYS).unsign(value[1:-1]) == b"john_doe"


# -- SignedCookies verifies what itsdangerous signs -----------------------------------------


def test_signed_cookies_accept_an_itsdangerous_cookie() -> None:
    cookie = _signer(KEYS).sign("john_doe").decode()
    assert _seen(_client(), cookie) == "john_doe"


def test_signed_cookies_accept_an_itsdangerous_cookie_signed_with_an_older_key() -> None:
    cookie = _signer([OLD_KEY]).sign("john_doe").decode()
    assert _seen(_client(), cookie) == "john_doe"


def test_signed_cookies_accept_an_itsdangerous_timestamped_cookie() -> None:
    cookie = _signer(KEYS, timed=True).sign("john_doe").decode()
    assert _seen(_client(max_age=3600), cookie) == "john_doe"


def test_an_expired_itsdangerous_cookie_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    cookie = _signer(KEYS, timed=True).sign("john_doe").decode()
    later = int(time.time()) + 7200  # headerware and itsdangerous share this clock
    monkeypatch.setattr(itsdangerous.TimestampSigner, "get_timestamp", lambda self: later)
    assert _seen(_client(max_age=3600), cookie) == "<none>"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: _signer(["some-other-key-0123456789abcdef"]), id="unknown-key"),
        pytest.param(lambda: _signer(KEYS, name="theme"), id="other-name"),
        pytest.param(lambda: _signer(KEYS, salt="other.salt"), id="other-salt"),
    ],
)
def test_signed_cookies_refuse_what_other_parameters_sign(make: Any) -> None:
    cookie = make().sign("admin").decode()
    assert _seen(_client(), cookie) == "<none>"


def test_signed_cookies_refuse_a_tampered_itsdangerous_cookie() -> None:
    cookie = _signer(KEYS).sign("john_doe").decode()
    tampered = cookie.replace("john_doe", "admin", 1)
    assert _seen(_client(), tampered) == "<none>"


# -- the documentation's own example -------------------------------------------------------


def test_the_documented_snippet_runs_as_written() -> None:
    """The ``::`` block of headerware.crypto's docstring, run with a real cookie."""
    doc = headerware.crypto.__doc__ or ""
    block = re.search(r"::\n\n((?:    .*\n|\n)+)", doc)
    assert block, "the signed-cookie format section lost its example"
    code = "\n".join(line[4:] for line in block.group(1).splitlines())
    code = code.replace("signer.unsign(cookie_value)", "result = signer.unsign(cookie_value)")
    code = code.replace('signer.sign("john_doe")', 'back = signer.sign("john_doe")')
    cookie_value = _set_cookie_value(_client().get("/set"))
    namespace: dict[str, Any] = {"keys": [k.encode() for k in KEYS], "cookie_value": cookie_value}
    exec(compile(code, "headerware.crypto docstring", "exec"), namespace)
    assert namespace["result"] == b"john_doe"
    assert _seen(_client(), namespace["back"].decode()) == "john_doe"
