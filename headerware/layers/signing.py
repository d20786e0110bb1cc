"""Signed cookies, transparent to the application.

The application writes ``username=john_doe`` and reads ``request.cookies["username"]``
as usual. On the way out :class:`SignedCookies` signs the value of every configured
cookie with itsdangerous; on the way in it verifies and strips the signature before
the application runs. A value that is missing its signature, tampered with, expired,
signed for another cookie, or sent twice with different values is removed from the
request and logged as ``cookie_signature_invalid`` with the cookie name and a
reason - never the key or the value.

What the application parses is always headerware's: on every request that carries
a ``Cookie`` header, the header the application sees is *rebuilt* from what
headerware's strict parser accepted (:mod:`headerware.cookies_parse`), whether or
not a signed cookie was in it. Frameworks parse more leniently than browsers
write: Django and werkzeug strip Unicode white space from names, so a cookie
``\\xa0username=admin`` (planted by a sibling subdomain, or by script) would read
as ``username`` and bypass the signature; werkzeug reads a bare ``username`` as an
empty ``username``. Such pairs never reach the application. Flask, Django and a
bare ``SimpleCookie`` parse all see the same cookies as headerware.

The signing primitives live in :mod:`headerware.crypto` (re-exported here):

:class:`CookieSigner`
    ``sign(value) -> str`` / ``unsign(value) -> str | None`` for one salt, HMAC-SHA256
    through itsdangerous. Key rotation: the key list is newest first, the newest signs
    and every key verifies.
:class:`CookieEncrypter`
    ``encrypt(value) -> str`` / ``decrypt(value) -> str | None``: AES-256-GCM (needs
    the ``crypto`` extra, ``cryptography``), one key per secret key derived with HKDF,
    the cookie name bound in as associated data. For values the client must not read.

Options of :class:`SignedCookies` (layer name ``"signed_cookies"``):

``cookies=()``
    Names or ``fnmatch`` patterns (``"pref_*"``) of the cookies to sign. Nothing is
    signed unless named: signing changes the value the browser stores.
``encrypted_cookies=()``
    Names or patterns of cookies to encrypt (and so authenticate) instead.
``secret_keys=None``
    The key list, newest first; ``None`` reads ``HEADERWARE_SECRET_KEYS``. No key is a
    start-up error naming the setting.
``allow_dev_key=False``
    Use the built-in development key (with a logged warning) when no key is set.
``max_age=None``
    Seconds a signature stays valid; when set, values carry a timestamp and older ones
    are removed as ``expired``. ``None``: the cookie's own lifetime decides.
``salt="headerware.signed-cookie"``
    The namespace of the signatures; the cookie name is appended, so a value signed for
    one cookie is never valid as another.
``report_only=False``
    Log invalid cookies (``report_only=True`` in the event) but change nothing: the
    request's Cookie header goes to the application as sent, nothing is signed.

Details: deletions (``Max-Age=0``, a past ``Expires``) go out unsigned, so deleting
works as usual. A quoted value (``"a b"``) is signed inside its quotes and handed
back quoted, so the framework unquotes it as before. The ``(name, reason)`` of each
cookie removed from a request is published as ``headerware.signed_cookies.rejected``
(helper :func:`rejected_cookies`); the header the client sent is kept under
``headerware.cookies.orig``. Stack :class:`~headerware.layers.cookies.CookiePolicy`
outside this layer (``Stack([CookiePolicy(), SignedCookies(...)], app)``) so its
flags and size limit apply to the signed value.

Cost: one keyed signer (:class:`~headerware.crypto.NamedSigner`) serves every
cookie name: the keyed HMAC state of each secret key is built in ``__init__``, and
the key of a name's salt (``f"{salt}:{name}"``, the format
``CookieSigner(keys, f"{salt}:{name}")`` reads and writes) is derived from a copy
of it, one HMAC, when used. Nothing is built per name, so a client inventing
hundreds of ``pref_*`` cookies costs a few HMACs per cookie, linear in the header
it sent, and no memory beyond bounded memos. Checks are remembered by name and
token, and without ``max_age`` or encryption the whole outcome of a Cookie header
is remembered too (:class:`~headerware.memo.Memo`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .._log import security_event
from ..cookie_names import NameMatcher
from ..cookies_parse import RequestCookies, parse_request_cookies
from ..core.layer import Layer, Response, ResponseHead
from ..crypto import CookieEncrypter, CookieSigner, KeysOption, NamedSigner, NameSigner
from ..keys import load_secret_keys
from ..memo import Memo
from ..options import OptionError, boolean, seconds, string_list, text
from ..setcookie import SetCookie, replace_set_cookies

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

    from ..core.context import Context

__all__ = [
    "REJECTED_ENVIRON_KEY",
    "CookieEncrypter",
    "CookieSigner",
    "NamedSigner",
    "SignedCookies",
    "rejected_cookies",
]

#: Published key: ``((name, reason), ...)`` of the cookies removed from this request.
REJECTED_ENVIRON_KEY = "headerware.signed_cookies.rejected"

#: A Cookie header's outcome: the verified cookies (``None``: no cookie of this
#: layer came) and the rejected ``(name, reason)`` pairs.
_Outcome = tuple[RequestCookies | None, tuple[tuple[str, str], ...]]


def rejected_cookies(environ: WSGIEnvironment) -> tuple[tuple[str, str], ...]:
    """The ``(name, reason)`` of each signed cookie removed from this request."""
    value = environ.get(REJECTED_ENVIRON_KEY)
    return value if isinstance(value, tuple) else ()


def _unquote(value: str) -> tuple[str, bool]:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1], True
    return value, False


class SignedCookies(Layer):
    """Signs configured cookies on the way out; verifies and strips them on the way in."""

    name: ClassVar[str] = "signed_cookies"

    def __init__(
        self,
        app: WSGIApplication | None = None,
        *,
        cookies: Sequence[str] = (),
        encrypted_cookies: Sequence[str] = (),
        secret_keys: KeysOption = None,
        allow_dev_key: bool = False,
        max_age: int | None = None,
        salt: str = "headerware.signed-cookie",
        report_only: bool = False,
    ) -> None:
        super().__init__(app)
        self._signed, self._encrypted = _matchers(cookies, encrypted_cookies)
        self.salt = text("salt", salt)
        self.report_only = boolean("report_only", report_only)
        self.max_age = (
            None if max_age is None else seconds("max_age", max_age, minimum=1, example="86400")
        )
        self.allow_dev_key = boolean("allow_dev_key", allow_dev_key)
        self.keys = load_secret_keys(secret_keys, allow_dev_key=self.allow_dev_key)
        # One keyed signer for every name: the salt of cookie ``name`` is
        # f"{salt}:{name}", derived per use, never a signer built per name.
        self.signer = NamedSigner(self.keys, self.salt, self.max_age)
        self._encrypter = (
            CookieEncrypter(self.keys, self.salt + ".encrypted", self.max_age)
            if self._encrypted
            else None
        )
        # The request hook's lookups: exact names -> kind; other names need _kind().
        self._exact_kinds: dict[str, str] = {
            name: "encrypted" for name in self._encrypted.exact if self._signed.match(name) is None
        }
        self._exact_kinds.update((name, "signed") for name in self._signed.exact)
        self._has_patterns = self._signed.has_patterns or self._encrypted.has_patterns
        # Outcomes of whole Cookie headers, when one depends on nothing but the header
        # (no expiry, no decryption) and is acted on.
        self._outcomes: Memo[str, _Outcome] | None = (
            Memo("signed_cookies.outcomes", self._decide_header, size=512, max_key_length=4096)
            if self.max_age is None and self._encrypter is None and not self.report_only
            else None
        )
        if self.report_only:
            self.handles_response = False

    def signer_for(self, name: str) -> NameSigner:
        """The signer of cookie ``name`` (``sign``/``verify``/``unsign``; a view of
        :attr:`signer`, nothing is built)."""
        return self.signer.for_name(name)

    def describe(self) -> dict[str, Any]:
        return {
            "cookies": list(self._signed.entries),
            "encrypted_cookies": list(self._encrypted.entries),
            "allow_dev_key": self.allow_dev_key,
            "max_age": self.max_age,
            "salt": self.salt,
            "report_only": self.report_only,
        }

    def _kind(self, name: str) -> str | None:
        """``"signed"``, ``"encrypted"`` or ``None`` (a signed entry wins)."""
        kind = self._exact_kinds.get(name)
        if kind is not None or not self._has_patterns:
            return kind
        if self._signed.match(name) is not None:
            return "signed"
        if self._encrypted.match(name) is not None:
            return "encrypted"
        return None

    def _open(self, name: str, kind: str, raw: str) -> tuple[str | None, str]:
        value, quoted = _unquote(raw)
        if kind == "signed":
            plain, reason = self.signer.verify(name, value)
        else:
            assert self._encrypter is not None
            plain, reason = self._encrypter.verify(value, name)
        if plain is not None and quoted:
            plain = f'"{plain}"'
        return plain, reason

    def _seal(self, name: str, kind: str, raw: str) -> str:
        value, quoted = _unquote(raw)
        if kind == "signed":
            sealed = self.signer.sign(name, value)
        else:
            assert self._encrypter is not None
            sealed = self._encrypter.encrypt(value, name)
        return f'"{sealed}"' if quoted else sealed

    # -- request --------------------------------------------------------------

    def on_request(self, ctx: Context) -> Response | None:
        if not ctx.header("cookie"):
            return None
        cookies = ctx.cookies
        outcomes = self._outcomes
        header = cookies.header
        if outcomes is not None and header is not None:
            rewritten, rejected = outcomes(header)
        else:
            rewritten, rejected = self._decide(cookies)
        report = self.report_only
        for name, reason in rejected:
            if report:
                security_event(
                    "cookie_signature_invalid", cookie=name, reason=reason, report_only=True
                )
            else:
                security_event("cookie_signature_invalid", cookie=name, reason=reason)
        if report:
            return None
        if rejected:
            ctx.publish(REJECTED_ENVIRON_KEY, rejected)
        # Always: the application parses only the header rebuilt from the strict
        # parse, never the client's (see the module documentation).
        ctx.set_cookies(rewritten if rewritten is not None else cookies)
        return None

    def _decide_header(self, header: str) -> _Outcome:
        return self._decide(parse_request_cookies(header))

    def _decide(self, cookies: RequestCookies) -> _Outcome:
        """The verified cookies (``None`` when no cookie of this layer came) and the
        rejected ones."""
        changes: dict[str, str | None] = {}
        rejected: list[tuple[str, str]] = []
        duplicates = cookies.duplicates
        for name, raw in cookies.items():
            kind = self._kind(name)
            if kind is None:
                continue
            if duplicates and name in duplicates and cookies.conflicting(name):
                plain, reason = None, "conflicting_duplicate"
            else:
                plain, reason = self._open(name, kind, raw)
            changes[name] = plain
            if plain is None:
                rejected.append((name, reason))
        if not changes:
            return None, ()
        return cookies.rewrite(changes), tuple(rejected)

    # -- response -------------------------------------------------------------

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        values = response.get_all("set-cookie")
        if not values:
            return
        sealed = [self._sign_header(value) for value in values]
        if sealed != values:
            replace_set_cookies(response, sealed)

    def _sign_header(self, header: str) -> str:
        """``header`` with its value signed or encrypted when the cookie is configured
        (deletions go out as they are); every attribute is kept verbatim."""
        name, value, tail = SetCookie.split(header)
        if not name:
            return header
        kind = self._kind(name)
        if kind is None:
            return header
        if tail and SetCookie.from_parts(name, value, tail).is_deletion():
            return header
        return f"{name}={self._seal(name, kind, value)}{tail}"


def _matchers(cookies: Sequence[str], encrypted: Sequence[str]) -> tuple[NameMatcher, NameMatcher]:
    """The validated ``cookies`` and ``encrypted_cookies`` options."""
    signed_names = string_list("cookies", cookies)
    encrypted_names = string_list("encrypted_cookies", encrypted)
    if not signed_names and not encrypted_names:
        raise OptionError(
            "cookies",
            cookies,
            "no cookie to sign",
            "name them, e.g. cookies=['username'] (or encrypted_cookies=[...])",
        )
    signed = NameMatcher(signed_names, option="cookies")
    encrypted_matcher = NameMatcher(encrypted_names, option="encrypted_cookies")
    both = set(signed.entries) & set(encrypted_matcher.entries)
    if both:
        raise OptionError(
            "encrypted_cookies",
            encrypted,
            f"{sorted(both)} also listed in cookies",
            "encrypted cookies are authenticated too: list them once",
        )
    return signed, encrypted_matcher
