"""The session object and its JSON record: what :mod:`headerware.layers.sessions` hands out.

A :class:`Session` is a ``MutableMapping[str, JSON]`` that knows whether it changed
(assignment, ``del``, ``clear()``, ``regenerate()``, or a nested change detected by
comparing JSON). Its stored form, in the signed cookie or a server-side store, is
the JSON record ``{"d": data, "c": created, "t": written[, "x": csrf secret]}``;
:func:`decode_record` checks its shape. Values must be JSON: never pickle.

The layer that owns the session (see :class:`SessionOwner`) loads it lazily with
the cookie store; server-side sessions are loaded before the application runs.
:func:`store_record` and :func:`interrupted` are written once as steps
(:data:`~headerware.stores.Steps`) that the layer runs on the store directly under
WSGI and awaits under ASGI.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import secrets
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeAlias

from ._log import logger, security_event
from .stores import Call, Steps, storage_key, user_id_text

if TYPE_CHECKING:
    from .core.context import Context
    from .crypto import CookieSigner

__all__ = [
    "SESSION_KEY",
    "JSONValue",
    "Known",
    "Session",
    "SessionOwner",
    "check_json",
    "decode_record",
    "decode_signed",
    "dumps",
    "expiry_reason",
    "get_session",
    "has_containers",
    "interrupted",
    "record_text",
    "store_record",
]

#: What a session value may be (documentation; the mapping itself is typed ``Any``).
JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"

#: The published key of the request's :class:`Session`.
SESSION_KEY = "headerware.session"
_SCALARS = (str, int, bool, type(None))


class SessionOwner(Protocol):
    """What a :class:`Session` needs of its layer."""

    @property
    def server_side(self) -> bool: ...

    def _load_cookie_session(self, session: Session) -> dict[str, Any]: ...


def get_session(environ: Mapping[str, Any]) -> Session:
    """The request's session from the WSGI environ (Django: ``request.META``) or the
    ASGI scope (``request.scope``); raises ``LookupError`` when no Sessions layer runs."""
    session = environ.get(SESSION_KEY)
    if not isinstance(session, Session):
        raise LookupError(
            "no headerware session on this request: wrap the application in "
            "headerware.Sessions (or add it to the Stack)"
        )
    return session


def check_json(value: object, where: str, depth: int = 0) -> None:
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
            check_json(item, where, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"session[{where}]: dict keys must be str, not {key!r}")
            check_json(item, where, depth + 1)
        return
    raise TypeError(
        f"session[{where}]: {type(value).__name__} is not JSON; sessions hold str, int, "
        "float, bool, None, lists and str-keyed dicts (convert it, e.g. to an ISO string)"
    )


def has_containers(data: dict[str, Any]) -> bool:
    # A plain loop: measurably cheaper than any() over a generator on the hot path.
    for value in data.values():  # noqa: SIM110
        if type(value) is list or type(value) is dict:
            return True
    return False


class Known(NamedTuple):
    """A cookie session record verified and decoded before (shared; never handed out)."""

    data: dict[str, Any]
    text: str
    snapshot: str | None
    created: int
    written: int
    secret: str | None


def dumps(data: object) -> str:
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
    #: The version of the server-side record loaded (what a save is conditional on).
    version: object = None

    def __init__(self, layer: SessionOwner, ctx: Context) -> None:
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
            if has_containers(data):
                self._snapshot = dumps(data)
        self._data = data
        return data

    def _adopt_known(self, known: Known) -> dict[str, Any]:
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
        check_json(value, repr(key))
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
        return snapshot is not None and self._data is not None and dumps(self._data) != snapshot

    def __repr__(self) -> str:
        state = "unloaded" if self._data is None else repr(self._data)
        return f"<Session {state}{' modified' if self.modified else ''}>"


def decode_record(text: str | bytes) -> dict[str, Any] | None:
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


def decode_signed(signer: CookieSigner, raw: str) -> Known | str:
    """A signed cookie-store value decoded, or the reason it is refused."""
    payload, reason = signer.verify(raw)
    if payload is None:
        return reason
    try:
        text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        return "malformed"
    record = decode_record(text)
    if record is None:
        return "malformed"
    data = record["d"]
    secret = record.get("x")
    flat = not has_containers(data)
    return Known(
        dict(data) if flat else {},
        text,
        None if flat else dumps(data),
        record["c"],
        record["t"],
        secret if isinstance(secret, str) else None,
    )


def expiry_reason(
    created: int, written: int, idle: int | None, absolute: int | None, now: int
) -> str | None:
    """``"idle_timeout"`` or ``"absolute_timeout"`` when one has passed, else ``None``."""
    if idle is not None and now - written > idle:
        return "idle_timeout"
    if absolute is not None and now - created > absolute:
        return "absolute_timeout"
    return None


def record_text(session: Session, now: int) -> tuple[str, int] | None:
    """``(the JSON record to store, its creation time)`` of ``session`` written at
    ``now``, or ``None`` (logged) when a value changed in place into non-JSON."""
    assert session._data is not None
    fresh = session.new or session.regenerated or not session.created
    created = now if fresh else session.created
    record: dict[str, Any] = {"d": session._data, "c": created, "t": now}
    if session.csrf_secret_value is not None:
        record["x"] = session.csrf_secret_value
    try:
        return json.dumps(record, separators=(",", ":"), allow_nan=False), created
    except (TypeError, ValueError) as exc:
        logger.error("session not saved: %s", exc, extra={"hw_event": "session_not_json"})
        return None


def store_record(
    session: Session, text: str, max_age: int | None, user_key: str
) -> Steps[str | None]:
    """Write ``session``'s record ``text`` (steps: run them on the store); its id, or
    ``None`` when the record loaded was deleted or rewritten since (nothing is
    written then)."""
    assert session._data is not None
    user_id = user_id_text(session._data.get(user_key))
    loaded = session.version
    if loaded is not None and not session.regenerated:
        assert session.session_id is not None
        key = storage_key(session.session_id)
        saved = yield Call("save", (key, text, max_age), {"expected": loaded, "user_id": user_id})
        return session.session_id if saved else None
    old_id = session.old_id
    if old_id is not None and loaded is not None:
        # Regenerating a loaded session: it must still be the one loaded, or a
        # revoked session would come back under its new id.
        if not (yield Call("delete_loaded", (storage_key(old_id), loaded))):
            return None
    elif old_id is not None and old_id != session.session_id:
        yield Call("delete", (storage_key(old_id),))
    if session.session_id is None:
        session.session_id = secrets.token_urlsafe(32)
    key = storage_key(session.session_id)
    if not (yield Call("save", (key, text, max_age), {"user_id": user_id})):
        return None  # an id of 256 random bits already taken: never in practice
    return session.session_id


def interrupted(session: Session, changed: bool, path: str) -> Steps[bool]:
    """Log a dropped save (``session_interrupted``); True when the session was revoked
    (deleted), False when another request rewrote it meanwhile (steps, like
    :func:`store_record`)."""
    current = session.old_id if session.regenerated else session.session_id
    revoked = current is None or (yield Call("load", (storage_key(current),))) is None
    security_event(
        "session_interrupted",
        level=logging.WARNING if revoked or changed else logging.INFO,
        reason="revoked" if revoked else "concurrent_update",
        changes_dropped=changed,
        path=path,
    )
    return revoked
