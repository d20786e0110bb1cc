"""Sessions for any WSGI framework: a JSON mapping published under one key.

:class:`Sessions` (config name ``sessions``) gives every request a :class:`Session`,
a ``MutableMapping[str, JSON]`` published under ``headerware.session``
(``environ["headerware.session"]``), read with :func:`get_session` (Flask:
``get_session(request.environ)``; Django: ``get_session(request.META)``). Values must
be JSON (``str``, ``int``, finite ``float``, ``bool``, ``None``, lists and
``str``-keyed dicts of those): sessions are serialised with JSON only, never pickle,
so a leaked key cannot become code execution. A non-JSON value raises ``TypeError``
where the application assigns it. Other layers (CSRF token mode) read the same
published session.

Behaviour
    - *Lazy*: with the cookie store, nothing is parsed or verified until the
      application touches the session; a request that never does costs one small
      object and its response is left untouched.
    - *Written only when changed*: ``Set-Cookie`` (and a store write) happens when the
      session was modified (top-level assignment, ``del``, ``clear()``,
      ``regenerate()``, or a nested change of a list/dict value, detected by
      comparing JSON), or when ``refresh_interval`` has passed since the last write.
      Set ``session.modified = True`` to force a write.
    - ``Vary: Cookie`` (merged into the response's one ``Vary``) on every response
      whose session was read, so no cache hands one user's page to another.
    - *Timeouts*: ``idle_timeout`` since the last write and ``absolute_timeout`` since
      the session began (login); an expired session reads as new and empty.
    - ``session.regenerate()``: a new session id (server-side) and a fresh cookie,
      keeping the data, with the absolute timeout restarted. Call it at login (and
      privilege changes) against session fixation; it also rotates the CSRF secret.
    - ``session.clear()``: empties the session; an emptied session deletes its cookie
      and its server-side record (log-out).
    - Tampered, unsigned, duplicated (conflicting) or malformed session cookies read as
      a new session and are logged (``session_rejected`` with the reason, never the
      value); an expired one is logged at INFO (``session_expired``).

When the session is saved
    In the response hook, i.e. once the application has started its response (for
    WSGI: inside its ``start_response`` call). Flask, Django and most frameworks
    finish with the session before they call ``start_response``, so everything they
    changed is saved. A change made *after* ``start_response`` (while a streamed
    body is being produced) comes too late for this response's ``Set-Cookie`` and
    is not saved.

Stores (``store=``)
    :class:`~headerware.stores.CookieStore` (default; the whole session in a signed,
    size-guarded cookie), :class:`~headerware.stores.sqlite.SQLiteStore` and
    :class:`~headerware.stores.redis.RedisStore` (server-side: the cookie carries a
    signed random id of 256 bits; ``store.revoke(session.id)`` ends a session now).

Store failures are a ``503``, never a 500
    With a server-side store the session is loaded *eagerly*, in the request hook,
    when the request carries a session cookie: a store that is down is then found
    before the application runs and answered with ``503 Service Unavailable`` (JSON or
    HTML by Accept, ``Retry-After``), logged as ``session_store_unavailable``. Lazy
    loading would let the failure surface inside the application, where Flask or
    Django would turn it into a 500 traceback. Saving happens in the response hook:
    a failed save replaces the whole response (status, headers and body, streamed
    or not) with the same 503 (an answer the client can retry) rather than pretend
    a login succeeded. A failure never deletes anything already stored. The cookie
    store cannot fail, so it stays lazy.

Options
    ``store=None`` (``CookieStore()``), ``secret_keys=None`` (newest first; ``None``
    reads ``HEADERWARE_SECRET_KEYS``), ``allow_dev_key=False``,
    ``salt="headerware.session"``, ``cookie_name="session"`` (over HTTPS only,
    ``"__Host-session"`` is better: browsers then refuse it from subdomains and over
    HTTP), ``secure=None`` (``None``: Secure on HTTPS requests; ``True``: always),
    ``samesite="Lax"`` (cross-site POSTs carry no session; ``"Strict"`` or ``"None"``,
    the latter only with ``secure=True``), ``domain=None`` (host-only), ``path="/"``,
    ``idle_timeout=604800`` (7 days), ``absolute_timeout=2592000`` (30 days),
    ``refresh_interval=86400`` (an active session is re-written once a day so its idle
    clock restarts; ``None`` to write only on change). HttpOnly is always set.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import secrets
import time
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from werkzeug.http import dump_cookie

from .._log import logger, security_event
from ..core.layer import Layer, Response, ResponseHead
from ..crypto import CookieSigner, KeysOption
from ..memo import Memo
from ..options import OptionError
from ..responses import error_response
from ..stores import CookieStore, ServerStore, StoreUnavailable, storage_key

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

    from ..core.context import Context

__all__ = ["SESSION_KEY", "Session", "Sessions", "get_session"]

#: What a session value may be (documentation; the mapping itself is typed ``Any``).
JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"

#: The published key of the request's :class:`Session`.
SESSION_KEY = "headerware.session"
_STATE_KEY = "sessions"
_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
_SCALARS = (str, int, bool, type(None))
_UNAVAILABLE = "The session service is temporarily unavailable; please retry shortly."
_COOKIE_NAME_FORBIDDEN = frozenset(' \t\r\n;,="()<>@:\\/[]?{}')


def get_session(environ: WSGIEnvironment) -> Session:
    """The request's session; raises ``LookupError`` when no Sessions layer runs."""
    session = environ.get(SESSION_KEY)
    if not isinstance(session, Session):
        raise LookupError(
            "no headerware session on this request: wrap the application in "
            "headerware.Sessions (or add it to the Stack)"
        )
    return session


def _check_json(value: object, where: str, depth: int = 0) -> None:
    """Raise ``TypeError`` unless ``value`` round-trips through JSON unchanged."""
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, float):
        if math.isfinite(value):
            return
        raise TypeError(f"session[{where}]: {value!r} is not valid JSON (NaN/Infinity)")
    if depth > 32:
        raise TypeError(f"session[{where}]: nested too deeply")
    if isinstance(value, list):
        for item in value:
            _check_json(item, where, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"session[{where}]: dict keys must be str, not {key!r}")
            _check_json(item, where, depth + 1)
        return
    raise TypeError(
        f"session[{where}]: {type(value).__name__} is not JSON; sessions hold str, int, "
        "float, bool, None, lists and str-keyed dicts (convert it, e.g. to an ISO string)"
    )


def _has_containers(data: dict[str, Any]) -> bool:
    # A plain loop: measurably cheaper than any() over a generator on the hot path.
    for value in data.values():  # noqa: SIM110
        if type(value) is list or type(value) is dict:
            return True
    return False


class _Known(NamedTuple):
    """A cookie session record verified and decoded before (shared; never handed out)."""

    data: dict[str, Any]
    text: str
    snapshot: str | None
    created: int
    written: int
    secret: str | None


#: Decoded session cookies by their whole signed value, per layer (a bounded
#: :class:`~headerware.memo.Memo`): a repeat skips the signature check, base64, JSON
#: and the shape checks; the timeouts are checked on every request.
_KNOWN_CACHE_SIZE = 512
_KNOWN_MAX_LENGTH = 4096


def _now() -> int:
    """The current time in whole seconds (one place, so tests can move the clock)."""
    return int(time.time())


def _dumps(data: object) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True, allow_nan=False)


class Session(MutableMapping[str, Any]):
    """The request's session data: a JSON mapping that knows whether it changed."""

    # Class-level defaults: a request that never touches its session pays for two
    # attribute stores, not fifteen.
    _data: dict[str, Any] | None = None
    _snapshot: str | None = None
    #: True once the application (or another layer) read or wrote the session.
    accessed: bool = False
    #: Set it to True after changing a nested value in place, to force a write.
    modified: bool = False
    #: True when no valid session came with the request.
    new: bool = True
    regenerated: bool = False
    invalid: bool = False
    cookie_present: bool = False
    created: int = 0
    written: int = 0
    session_id: str | None = None
    old_id: str | None = None
    csrf_secret_value: str | None = None

    def __init__(self, layer: Sessions, ctx: Context) -> None:
        self._layer = layer
        self._ctx = ctx

    # -- loading -----------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        self.accessed = True
        data = self._data
        if data is None:
            data = self._data = self._layer._load_cookie_session(self)
        return data

    def _adopt(self, record: dict[str, Any] | None) -> dict[str, Any]:
        """Take over a verified record (or start a new session when ``None``)."""
        if record is None:
            self.new = True
            data: dict[str, Any] = {}
        else:
            self.new = False
            data = record["d"]
            self.created = record["c"]
            self.written = record["t"]
            secret = record.get("x")
            self.csrf_secret_value = secret if isinstance(secret, str) else None
            if _has_containers(data):
                self._snapshot = _dumps(data)
        self._data = data
        return data

    def _adopt_known(self, known: _Known) -> dict[str, Any]:
        """Take over a record decoded before: a fresh copy of its data."""
        snapshot = known.snapshot
        # Scalars only: a shallow copy is as fresh as a new decode.
        data = dict(known.data) if snapshot is None else json.loads(known.text)["d"]
        self.new = False
        self.created = known.created
        self.written = known.written
        self.csrf_secret_value = known.secret
        self._snapshot = snapshot
        self._data = data
        return data

    # -- the mapping -----------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"session keys must be str, not {type(key).__name__}")
        _check_json(value, repr(key))
        self._load()[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self._load()[key]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, key: object) -> bool:
        return key in self._load()

    def get(self, key: str, default: Any = None) -> Any:
        return self._load().get(key, default)

    def clear(self) -> None:
        """Empty the session; when saved, its cookie and server-side record are deleted."""
        data = self._load()
        if data or self.csrf_secret_value is not None:
            self.modified = True
        data.clear()
        self.csrf_secret_value = None

    def regenerate(self) -> None:
        """Issue a new session id and cookie (keeping the data): call it at login."""
        self._load()
        if self.session_id is not None and self.old_id is None:
            self.old_id = self.session_id
        self.session_id = None
        self.regenerated = True
        self.modified = True
        self.csrf_secret_value = None

    @property
    def id(self) -> str | None:
        """The server-side session id (for ``store.revoke``); ``None`` with the cookie store."""
        if not self._layer.server_side:
            return None
        self._load()
        if self.session_id is None:
            self.session_id = secrets.token_urlsafe(32)
        return self.session_id

    def csrf_secret(self) -> str:
        """The per-session secret the CSRF token mode binds its tokens to (created once)."""
        self._load()
        if self.csrf_secret_value is None:
            self.csrf_secret_value = secrets.token_urlsafe(32)
            self.modified = True
        return self.csrf_secret_value

    def current_csrf_secret(self) -> str | None:
        """The session's CSRF secret if it has one (never creates it)."""
        self._load()
        return self.csrf_secret_value

    def changed(self) -> bool:
        """True when the session must be written: modified, or a nested value changed."""
        if self.modified:
            return True
        snapshot = self._snapshot
        return snapshot is not None and self._data is not None and _dumps(self._data) != snapshot

    def __repr__(self) -> str:
        state = "unloaded" if self._data is None else repr(self._data)
        return f"<Session {state}{' modified' if self.modified else ''}>"


class Sessions(Layer):
    """Framework-neutral JSON sessions in a signed cookie, SQLite or Redis."""

    name = "sessions"

    def __init__(
        self,
        app: WSGIApplication | None = None,
        *,
        store: CookieStore | ServerStore | None = None,
        secret_keys: KeysOption = None,
        allow_dev_key: bool = False,
        salt: str = "headerware.session",
        cookie_name: str = "session",
        secure: bool | None = None,
        samesite: str = "Lax",
        domain: str | None = None,
        path: str = "/",
        idle_timeout: int | None = 7 * 86400,
        absolute_timeout: int | None = 30 * 86400,
        refresh_interval: int | None = 86400,
    ) -> None:
        super().__init__(app)
        self.store = _check_store(store)
        self._server: ServerStore | None = (
            self.store if isinstance(self.store, ServerStore) else None
        )
        self.server_side = self._server is not None
        self._max_size = self.store.max_size if isinstance(self.store, CookieStore) else 4000
        self._signer = CookieSigner(
            secret_keys,
            salt=salt + (".id" if self.server_side else ".data"),
            allow_dev_key=allow_dev_key,
        )
        self.cookie_name = _check_cookie_name(cookie_name)
        self.samesite = _check_samesite(samesite)
        self.secure = _check_secure(secure, cookie_name, self.samesite)
        self.domain, self.path = _check_scope(cookie_name, domain, path)
        self.idle_timeout, self.absolute_timeout, self.refresh_interval = _check_timeouts(
            idle_timeout, absolute_timeout, refresh_interval
        )
        #: Decoded cookie records by signed value (cookie store; see ``_decode_cookie``).
        self._records: Memo[str, _Known | str] = Memo(
            "sessions.cookie",
            self._decode_cookie,
            size=_KNOWN_CACHE_SIZE,
            max_key_length=_KNOWN_MAX_LENGTH,
        )

    def describe(self) -> dict[str, Any]:
        return {
            **self.store.describe(),
            "cookie_name": self.cookie_name,
            "secure": "https" if self.secure is None else self.secure,
            "samesite": self.samesite,
            "domain": self.domain,
            "path": self.path,
            "httponly": True,
            "idle_timeout": self.idle_timeout,
            "absolute_timeout": self.absolute_timeout,
            "refresh_interval": self.refresh_interval,
        }

    def revoke(self, session_id: str) -> None:
        """End a server-side session now (``session.id``); raises ``StoreUnavailable``."""
        if self._server is None:
            raise RuntimeError("revoke: signed-cookie sessions cannot be revoked server-side")
        self._server.revoke(session_id)

    # -- request ---------------------------------------------------------------------

    def on_request(self, ctx: Context) -> Response | None:
        session = Session(self, ctx)
        ctx.publish(SESSION_KEY, session)
        ctx.state[_STATE_KEY] = session
        server = self._server
        if server is None or ctx.header("cookie") is None:
            return None
        # Server-side: load now, so an unreachable store is a 503 before the app runs.
        session_id = self._cookie_payload(session)
        if session_id is None:
            session._adopt(None)
            return None
        try:
            text = server.get(storage_key(session_id))
        except StoreUnavailable as exc:
            return self._unavailable(ctx, "load", exc)
        if text is None:
            # Revoked, expired by the store's TTL, or never issued here.
            session.invalid = True
            security_event("session_expired", level=logging.INFO, reason="unknown_id")
            record = None
        else:
            record = self._check_record(text, session)
        if record is not None:
            session.session_id = session_id
        session._adopt(record)
        return None

    def _cookie_payload(self, session: Session) -> str | None:
        """The verified payload of the request's session cookie, or ``None``."""
        cookies = session._ctx.cookies
        raw = cookies.get(self.cookie_name)
        if raw is None:
            return None
        session.cookie_present = True
        if cookies.conflicting(self.cookie_name):
            self._reject(session, "duplicate")
            return None
        payload, reason = self._signer.verify(raw)
        if payload is None:
            self._reject(session, reason)
            return None
        return payload

    def _reject(self, session: Session, reason: str) -> None:
        session.invalid = True
        security_event("session_rejected", reason=reason, cookie=self.cookie_name)

    def _check_record(self, text: str | bytes, session: Session) -> dict[str, Any] | None:
        """The decoded record when well-formed and within its timeouts, else ``None``."""
        record = _decode_record(text)
        if record is None:
            self._reject(session, "malformed")
            return None
        if not self._fresh(record["c"], record["t"], session):
            return None
        return record

    def _fresh(self, created: int, written: int, session: Session) -> bool:
        """True when neither timeout has passed; logs ``session_expired`` otherwise."""
        idle, absolute = self.idle_timeout, self.absolute_timeout
        if idle is None and absolute is None:
            return True
        now = _now()
        if idle is not None and now - written > idle:
            reason = "idle_timeout"
        elif absolute is not None and now - created > absolute:
            reason = "absolute_timeout"
        else:
            return True
        session.invalid = True
        security_event("session_expired", level=logging.INFO, reason=reason)
        return False

    def _decode_cookie(self, raw: str) -> _Known | str:
        """A signed cookie-store value decoded, or the reason it is refused.

        A pure function of ``raw`` (the keys never change), remembered in a bounded
        memo: a client sends the same cookie on request after request.
        """
        payload, reason = self._signer.verify(raw)
        if payload is None:
            return reason
        try:
            text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8")
        except (binascii.Error, ValueError):
            return "malformed"
        record = _decode_record(text)
        if record is None:
            return "malformed"
        data = record["d"]
        secret = record.get("x")
        flat = not _has_containers(data)
        return _Known(
            dict(data) if flat else {},
            text,
            None if flat else _dumps(data),
            record["c"],
            record["t"],
            secret if isinstance(secret, str) else None,
        )

    def _load_cookie_session(self, session: Session) -> dict[str, Any]:
        """Load on first use (cookie store; server-side sessions were loaded eagerly)."""
        if self._server is not None:
            return session._adopt(None)
        cookies = session._ctx.cookies
        raw = cookies.get(self.cookie_name)
        if raw is None:
            return session._adopt(None)
        session.cookie_present = True
        if cookies.conflicting(self.cookie_name):
            self._reject(session, "duplicate")
            return session._adopt(None)
        known = self._records(raw)
        if isinstance(known, str):
            self._reject(session, known)
            return session._adopt(None)
        if not self._fresh(known.created, known.written, session):
            return session._adopt(None)
        return session._adopt_known(known)

    # -- response --------------------------------------------------------------------

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        session: Session | None = ctx.state.get(_STATE_KEY)
        if session is None or session._data is None:
            return  # never touched: the response is left as it is
        if session.accessed:
            response.merge_vary("Cookie")
        now = 0
        if session.changed() or session.regenerated:
            write = True
        elif session.accessed and not session.new and self.refresh_interval is not None:
            now = _now()
            write = now - session.written >= self.refresh_interval
        else:
            write = False
        if not write:
            if session.invalid and session.cookie_present:
                response.add("Set-Cookie", self._deletion(ctx))
            return
        try:
            self._save(ctx, session, response, now or _now())
        except StoreUnavailable as exc:
            self._replace_with_unavailable(ctx, response, exc)

    def _replace_with_unavailable(
        self, ctx: Context, response: ResponseHead, exc: StoreUnavailable
    ) -> None:
        """The application's response (head and body, streamed or not) becomes a 503."""
        error = self._unavailable(ctx, "save", exc)
        # Nothing of the application's answer survives: not its cookies, not its
        # headers; layers outside this one still add theirs.
        response.replace(error)
        if ctx.method == "HEAD":
            response.drop_body()

    def _save(self, ctx: Context, session: Session, response: ResponseHead, now: int) -> None:
        data = session._data
        assert data is not None
        if not data and session.csrf_secret_value is None:
            self._delete(ctx, session, response)
            return
        created = (
            now
            if (session.new or session.regenerated or not session.created)
            else (session.created)
        )
        record: dict[str, Any] = {"d": data, "c": created, "t": now}
        if session.csrf_secret_value is not None:
            record["x"] = session.csrf_secret_value
        try:
            text = json.dumps(record, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            # A nested value changed in place into something that is not JSON.
            logger.error("session not saved: %s", exc, extra={"hw_event": "session_not_json"})
            return
        max_age = self._max_age(created, now)
        if self._server is not None:
            value = self._store_record(session, text, max_age)
        else:
            payload = base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=")
            value = self._signer.sign(payload.decode("ascii"))
        cookie = dump_cookie(
            self.cookie_name,
            value,
            max_age=max_age,
            path=self.path,
            domain=self.domain,
            secure=self._secure(ctx),
            httponly=True,
            samesite=self.samesite,
            max_size=0,  # checked below, with a logged refusal instead of a warning
        )
        if len(cookie) > self._max_size:
            security_event(
                "session_too_large",
                level=logging.ERROR,
                cookie=self.cookie_name,
                size=len(cookie),
                limit=self._max_size,
            )
            return  # the client keeps its previous cookie
        response.add("Set-Cookie", cookie)

    def _delete(self, ctx: Context, session: Session, response: ResponseHead) -> None:
        """An empty session is no session: delete what the client and store hold."""
        server = self._server
        if server is not None:
            for old in (session.session_id, session.old_id):
                if old is not None:
                    server.delete(storage_key(old))
        if session.cookie_present:
            response.add("Set-Cookie", self._deletion(ctx))

    def _store_record(self, session: Session, text: str, max_age: int | None) -> str:
        """Write a server-side record; the signed session id for the cookie."""
        server = self._server
        assert server is not None
        if session.session_id is None:
            session.session_id = secrets.token_urlsafe(32)
        server.set(storage_key(session.session_id), text, max_age)
        if session.old_id is not None and session.old_id != session.session_id:
            # The new record is safe; dropping the old one must not fail the request.
            try:
                server.delete(storage_key(session.old_id))
            except StoreUnavailable as exc:
                logger.error(
                    "session store: old session not deleted after regenerate (%s)",
                    exc,
                    extra={"hw_event": "session_store_unavailable"},
                )
        return self._signer.sign(session.session_id)

    def _max_age(self, created: int, now: int) -> int | None:
        ages = []
        if self.idle_timeout is not None:
            ages.append(self.idle_timeout)
        if self.absolute_timeout is not None:
            ages.append(max(1, created + self.absolute_timeout - now))
        return min(ages) if ages else None

    def _secure(self, ctx: Context) -> bool:
        return ctx.is_secure if self.secure is None else self.secure

    def _deletion(self, ctx: Context) -> str:
        return dump_cookie(
            self.cookie_name,
            "",
            max_age=0,
            expires=0,
            path=self.path,
            domain=self.domain,
            secure=self._secure(ctx),
            httponly=True,
            samesite=self.samesite,
        )

    def _unavailable(self, ctx: Context, operation: str, exc: Exception) -> Response:
        security_event(
            "session_store_unavailable",
            level=logging.ERROR,
            operation=operation,
            store=type(self.store).__name__,
            error=str(exc),
            path=ctx.path,
        )
        return error_response(ctx, "503 Service Unavailable", _UNAVAILABLE, [("Retry-After", "5")])


def _decode_record(text: str | bytes) -> dict[str, Any] | None:
    """The stored record ``{"d": data, "c": created, "t": written[, "x": secret]}``
    when well-formed (timeouts not checked), else ``None``."""
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if (
        type(record) is not dict
        or type(record.get("d")) is not dict
        or type(record.get("c")) is not int
        or type(record.get("t")) is not int
    ):
        return None
    return record


# -- option checks --------------------------------------------------------------------


def _check_store(store: object) -> CookieStore | ServerStore:
    if store is None:
        return CookieStore()
    if not isinstance(store, (CookieStore, ServerStore)):
        raise OptionError(
            "store",
            store,
            f"{store!r} is not a session store",
            "use CookieStore(), SQLiteStore(path) or RedisStore(url)",
        )
    return store


def _check_cookie_name(cookie_name: object) -> str:
    if (
        not isinstance(cookie_name, str)
        or not cookie_name
        or not cookie_name.isascii()
        or any(char in _COOKIE_NAME_FORBIDDEN for char in cookie_name)
    ):
        raise OptionError(
            "cookie_name",
            cookie_name,
            f"{cookie_name!r} is not a valid cookie name",
            "use letters, digits, '-' and '_', e.g. 'session' or '__Host-session'",
        )
    return cookie_name


def _check_samesite(samesite: object) -> str:
    same = _SAMESITE.get(str(samesite).lower())
    if same is None:
        raise OptionError(
            "samesite",
            samesite,
            f"{samesite!r} is not a SameSite value",
            "use 'Lax' (default), 'Strict' or 'None'",
        )
    return same


def _check_secure(secure: object, cookie_name: str, samesite: str) -> bool | None:
    """``secure`` as given, forced to True where browsers demand Secure."""
    if secure not in (None, True, False):
        raise OptionError(
            "secure", secure, f"{secure!r} must be None (follow HTTPS), True or False"
        )
    if cookie_name.startswith(("__Host-", "__Secure-")) or samesite == "None":
        if secure is False:
            raise OptionError(
                "secure",
                secure,
                f"False is impossible with cookie_name={cookie_name!r} and "
                f"samesite={samesite!r}: browsers drop such cookies without Secure",
                "remove secure=False",
            )
        return True
    return secure


def _check_scope(cookie_name: str, domain: object, path: object) -> tuple[str | None, str]:
    if not isinstance(path, str) or not path.startswith("/") or ";" in path:
        raise OptionError("path", path, f"{path!r} must start with '/' and contain no ';'")
    if domain is not None and (not isinstance(domain, str) or ";" in domain or not domain):
        raise OptionError(
            "domain", domain, f"{domain!r} is not a domain name", "use e.g. 'example.com'"
        )
    if cookie_name.startswith("__Host-") and (domain is not None or path != "/"):
        raise OptionError(
            "cookie_name",
            cookie_name,
            f"{cookie_name!r} (__Host- prefix) requires path='/' and no domain",
            "remove domain= and path=",
        )
    return domain, path


def _check_timeouts(
    idle_timeout: object, absolute_timeout: object, refresh_interval: object
) -> tuple[int | None, int | None, int | None]:
    checked: list[int | None] = []
    for option, value in (
        ("idle_timeout", idle_timeout),
        ("absolute_timeout", absolute_timeout),
        ("refresh_interval", refresh_interval),
    ):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value <= 0
        ):
            raise OptionError(
                option,
                value,
                f"{value!r} is not a positive number of seconds",
                f"use e.g. {option}=3600, or None to disable",
            )
        checked.append(value)
    idle, absolute, refresh = checked
    if refresh is not None and idle is not None and refresh >= idle:
        raise OptionError(
            "refresh_interval",
            refresh,
            f"{refresh} must be shorter than idle_timeout ({idle}), or an active session "
            "would still time out",
        )
    return idle, absolute, refresh
