"""Sessions for any WSGI framework: a JSON mapping published under one key.

:class:`Sessions` (config name ``sessions``) gives every request a
:class:`~headerware.session_data.Session`, a ``MutableMapping[str, JSON]`` published
under ``headerware.session``, read with :func:`get_session` (Flask:
``get_session(request.environ)``; Django: ``get_session(request.META)``). Values must
be JSON (never pickle, so a leaked key cannot become code execution); a non-JSON
value raises ``TypeError`` where it is assigned. CSRF token mode reads the session.

Behaviour
    - *Lazy* with the cookie store: nothing is verified until the session is touched.
    - *Written only when changed* (assignment, ``del``, ``clear()``, ``regenerate()``,
      a nested change detected by comparing JSON, ``session.modified = True``), or
      when ``refresh_interval`` has passed since the last write.
    - ``Vary: Cookie`` on every response whose session was read.
    - *Timeouts*: ``idle_timeout`` since the last write, ``absolute_timeout`` since
      login; an expired session reads as new and empty (``session_expired``, INFO).
    - ``session.regenerate()``: a new id and cookie, keeping the data; call it at
      login and privilege changes (session fixation); it rotates the CSRF secret.
    - ``session.clear()``: log-out; deletes the cookie and the server-side record.
    - Tampered, unsigned, duplicated or malformed cookies read as a new session,
      logged as ``session_rejected`` with the reason (never the value).

Saved in the response hook (inside the application's ``start_response``): a change
made while a streamed body is produced comes too late and is not saved.

Stores (``store=``)
    :class:`~headerware.stores.CookieStore` (default; a signed, size-guarded cookie),
    :class:`~headerware.stores.sqlite.SQLiteStore`,
    :class:`~headerware.stores.redis.RedisStore` (server-side: the cookie carries a
    signed random id of 256 bits). Server-side sessions are loaded before the
    application runs: a store that is down is a ``503`` (``Retry-After``, logged as
    ``session_store_unavailable``), never a 500 inside the framework; a failed save
    replaces the whole response with that 503. A failure never deletes anything.
    Under ASGI the same steps await the store's ``aload`` / ``asave`` ... (redis-py's
    asyncio client; SQLite in a worker thread): no store call blocks the event loop
    (``await Sessions.arevoke(...)`` / ``arevoke_user(...)`` too).

Revocation (server-side stores)
    ``Sessions.revoke(session.id)`` ends one session; ``Sessions.revoke_user(user_id)``
    ends every session whose ``user_key`` value is ``user_id`` (log out everywhere;
    the stores keep an index by user, no key scan) and returns how many ended.
    A save is conditional on the record still being the one loaded: a request
    already in flight when its session was revoked, logged out or rewritten by
    another request cannot bring it back. Its session changes are dropped, logged
    as ``session_interrupted`` (``reason`` ``revoked`` or ``concurrent_update``),
    and a revoked session's cookie is deleted; the application's response is kept.

Options
    ``store=None`` (``CookieStore()``), ``secret_keys=None`` (newest first; ``None``
    reads ``HEADERWARE_SECRET_KEYS``), ``allow_dev_key=False``,
    ``salt="headerware.session"``, ``cookie_name="session"`` (``"__Host-session"`` is
    better over HTTPS), ``secure=None`` (Secure on HTTPS requests; ``True``: always),
    ``samesite="Lax"`` (``"Strict"``; ``"None"`` only with Secure), ``domain=None``,
    ``path="/"``, ``idle_timeout=604800``, ``absolute_timeout=2592000``,
    ``refresh_interval=86400`` (``None``: write only on change),
    ``user_key="user_id"``. HttpOnly is always set.
"""

from __future__ import annotations

import base64
import logging
import time
from typing import TYPE_CHECKING, Any

from .._log import security_event
from ..core.layer import Layer, Response, ResponseHead
from ..crypto import CookieSigner, KeysOption
from ..memo import Memo
from ..options import text as text_option
from ..responses import error_response
from ..session_cookie import SessionCookie
from ..session_cookie import max_age as session_max_age
from ..session_data import (
    SESSION_KEY,
    Known,
    Session,
    decode_record,
    decode_signed,
    expiry_reason,
    get_session,
    interrupted,
    record_text,
    store_record,
)
from ..session_options import (
    check_cookie_name,
    check_samesite,
    check_scope,
    check_secure,
    check_store,
    check_timeouts,
)
from ..stores import (
    Call,
    CookieStore,
    ServerStore,
    Steps,
    StoreUnavailable,
    arun,
    run,
    storage_key,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from ..core.context import Context

__all__ = ["SESSION_KEY", "Session", "Sessions", "get_session"]

_STATE_KEY = "sessions"
_UNAVAILABLE = "The session service is temporarily unavailable; please retry shortly."

#: Decoded session cookies by their whole signed value, per layer (a bounded
#: :class:`~headerware.memo.Memo`): a repeat skips the signature check, base64, JSON
#: and the shape checks; the timeouts are checked on every request.
_KNOWN_CACHE_SIZE = 512
_KNOWN_MAX_LENGTH = 4096


def _now() -> int:
    """The current time in whole seconds (one place, so tests can move the clock)."""
    return int(time.time())


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
        user_key: str = "user_id",
    ) -> None:
        super().__init__(app)
        self.store = check_store(store)
        self._server: ServerStore | None = (
            self.store if isinstance(self.store, ServerStore) else None
        )
        self.server_side = self._server is not None
        self._signer = CookieSigner(
            secret_keys,
            salt=salt + (".id" if self.server_side else ".data"),
            allow_dev_key=allow_dev_key,
        )
        self.cookie_name = check_cookie_name(cookie_name)
        self.samesite = check_samesite(samesite)
        self.secure = check_secure(secure, cookie_name, self.samesite)
        self.domain, self.path = check_scope(cookie_name, domain, path)
        self.idle_timeout, self.absolute_timeout, self.refresh_interval = check_timeouts(
            idle_timeout, absolute_timeout, refresh_interval
        )
        self.user_key = text_option("user_key", user_key)
        limit = self.store.max_size if isinstance(self.store, CookieStore) else 4000
        self._cookie = SessionCookie(
            self.cookie_name, self.secure, self.samesite, self.domain, self.path, limit
        )
        if self._server is None:
            # The cookie store does no I/O: ASGI runs the plain hooks.
            self.request_is_async = self.response_is_async = False
        #: Decoded cookie records by signed value (cookie store; see ``_decode_cookie``).
        self._records: Memo[str, Known | str] = Memo(
            "sessions.cookie",
            self._decode_cookie,
            size=_KNOWN_CACHE_SIZE,
            max_key_length=_KNOWN_MAX_LENGTH,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "store": self.store.describe(),
            "cookie_name": self.cookie_name,
            "secure": self.secure,
            "samesite": self.samesite,
            "domain": self.domain,
            "path": self.path,
            "idle_timeout": self.idle_timeout,
            "absolute_timeout": self.absolute_timeout,
            "refresh_interval": self.refresh_interval,
            "user_key": self.user_key,
        }

    def revoke(self, session_id: str) -> None:
        """End a server-side session now (``session.id``); raises ``StoreUnavailable``."""
        self._server_store("revoke").revoke(session_id)

    def revoke_user(self, user_id: str | int) -> int:
        """End every server-side session whose ``user_key`` value is ``user_id`` (log
        out everywhere); returns how many ended. Raises ``StoreUnavailable``."""
        return self._server_store("revoke_user").revoke_user(user_id)

    async def arevoke(self, session_id: str) -> None:
        """:meth:`revoke` without blocking the event loop (ASGI)."""
        await self._server_store("revoke").arevoke(session_id)

    async def arevoke_user(self, user_id: str | int) -> int:
        """:meth:`revoke_user` without blocking the event loop (ASGI)."""
        return await self._server_store("revoke_user").arevoke_user(user_id)

    def _server_store(self, operation: str) -> ServerStore:
        if self._server is None:
            raise RuntimeError(f"{operation}: signed-cookie sessions cannot be revoked server-side")
        return self._server

    # -- request ---------------------------------------------------------------------

    def on_request(self, ctx: Context) -> Response | None:
        steps = self._request_steps(ctx)
        if steps is None:
            return None
        try:
            run(steps, self._perform)
        except StoreUnavailable as exc:
            return self._unavailable(ctx, "load", exc)
        return None

    async def on_request_async(self, ctx: Context) -> Response | None:
        """:meth:`on_request` awaiting the store (ASGI): the same steps."""
        steps = self._request_steps(ctx)
        if steps is None:
            return None
        try:
            await arun(steps, self._aperform)
        except StoreUnavailable as exc:
            return self._unavailable(ctx, "load", exc)
        return None

    def _perform(self, call: Call) -> Any:
        """One store call of the steps, made directly (WSGI)."""
        return getattr(self._server, call.method)(*call.args, **(call.kwargs or {}))

    async def _aperform(self, call: Call) -> Any:
        """One store call of the steps, awaited (``aload`` for ``load``...: ASGI)."""
        return await getattr(self._server, "a" + call.method)(*call.args, **(call.kwargs or {}))

    def _request_steps(self, ctx: Context) -> Steps[None] | None:
        """Publish the request's session; the steps that load it when server-side."""
        session = Session(self, ctx)
        ctx.publish(SESSION_KEY, session)
        ctx.state[_STATE_KEY] = session
        if self._server is None or ctx.header("cookie") is None:
            return None
        # Server-side: load now, so an unreachable store is a 503 before the app runs.
        session_id = self._cookie_payload(session)
        if session_id is None:
            session._adopt(None)
            return None
        return self._load(session, session_id)

    def _load(self, session: Session, session_id: str) -> Steps[None]:
        loaded = yield Call("load", (storage_key(session_id),))
        if loaded is None:
            # Revoked, expired by the store's TTL, or never issued here.
            session.invalid = True
            security_event("session_expired", level=logging.INFO, reason="unknown_id")
            session._adopt(None)
            return
        record = self._check_record(loaded.text, session)
        if record is not None:
            session.session_id, session.version = session_id, loaded.version
        session._adopt(record)

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
        record = decode_record(text)
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
        reason = expiry_reason(created, written, idle, absolute, _now())
        if reason is None:
            return True
        session.invalid = True
        security_event("session_expired", level=logging.INFO, reason=reason)
        return False

    def _decode_cookie(self, raw: str) -> Known | str:
        """A signed cookie-store value decoded, or the reason it is refused (a pure
        function of ``raw``, remembered in a bounded memo)."""
        return decode_signed(self._signer, raw)

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
        steps = self._response_steps(ctx, response)
        if steps is None:
            return
        try:
            run(steps, self._perform)
        except StoreUnavailable as exc:
            self._replace_with_unavailable(ctx, response, exc)

    async def on_response_async(self, ctx: Context, response: ResponseHead) -> None:
        """:meth:`on_response` awaiting the store (ASGI): the same steps."""
        steps = self._response_steps(ctx, response)
        if steps is None:
            return
        try:
            await arun(steps, self._aperform)
        except StoreUnavailable as exc:
            self._replace_with_unavailable(ctx, response, exc)

    def _response_steps(self, ctx: Context, response: ResponseHead) -> Steps[None] | None:
        """Decide whether the session is written; the steps that write it, or ``None``."""
        session: Session | None = ctx.state.get(_STATE_KEY)
        if session is None or session._data is None:
            return None  # never touched: the response is left as it is
        if session.accessed:
            response.merge_vary("Cookie")
        now = 0
        write_needed = session.changed() or session.regenerated
        if write_needed:
            write = True
        elif session.accessed and not session.new and self.refresh_interval is not None:
            now = _now()
            write = now - session.written >= self.refresh_interval
        else:
            write = False
        if not write:
            if session.invalid and session.cookie_present:
                response.add("Set-Cookie", self._cookie.deletion(ctx))
            return None
        return self._save(ctx, session, response, now or _now(), write_needed)

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

    def _save(
        self, ctx: Context, session: Session, response: ResponseHead, now: int, changed: bool
    ) -> Steps[None]:
        data = session._data
        assert data is not None
        if not data and session.csrf_secret_value is None:
            yield from self._delete(ctx, session, response)
            return
        written = record_text(session, now)
        if written is None:
            return  # a nested value changed in place into something that is not JSON
        text, created = written
        max_age = session_max_age(self.idle_timeout, self.absolute_timeout, created, now)
        if self._server is not None:
            saved = yield from store_record(session, text, max_age, self.user_key)
            if saved is None:
                # Revoked (or rewritten) while this request ran: the save is dropped,
                # like Django's ``SessionInterrupted``, and a revoked cookie deleted.
                revoked = yield from interrupted(session, changed, ctx.path)
                if revoked and session.cookie_present:
                    response.add("Set-Cookie", self._cookie.deletion(ctx))
                return
            value = self._signer.sign(saved)
        else:
            payload = base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=")
            value = self._signer.sign(payload.decode("ascii"))
        cookie = self._cookie.line(ctx, value, max_age)
        if cookie is not None:  # else the client keeps its previous cookie
            response.add("Set-Cookie", cookie)

    def _delete(self, ctx: Context, session: Session, response: ResponseHead) -> Steps[None]:
        """An empty session is no session: delete what the client and store hold."""
        if self._server is not None:
            for old in (session.session_id, session.old_id):
                if old is not None:
                    yield Call("delete", (storage_key(old),))
        if session.cookie_present:
            response.add("Set-Cookie", self._cookie.deletion(ctx))

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
