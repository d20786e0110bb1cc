"""Secret keys for signing: configuration, environment, rotation, development mode.

A key list is rotation: the first (newest) key signs, every key verifies. Keys come
from the option or, when it is not given, from ``HEADERWARE_SECRET_KEYS``
(comma-separated, newest first)::

    export HEADERWARE_SECRET_KEYS=$(headerware keygen)

With no key at all, construction fails and says how to set one.

The development key
    A public, built-in key stands in for a missing one only when BOTH the layer
    allows it (``allow_dev_key = true``) AND the process is in *development mode*.
    Development mode is one explicit setting, decided by the entry point:

    - ``headerware run`` on a loopback address, ``headerware check-config`` and
      ``headerware audit APP`` (nothing is served to other machines): on;
    - the production entry points — :func:`headerware.deploy.wrap` (gunicorn,
      ``examples/gunicorn.conf.py``), the PasteDeploy factories and
      ``headerware run`` on any other address: off, whatever the environment says;
    - anything else (your own ``Stack(...)``, ``stack_from_toml``, a test suite):
      on only when ``HEADERWARE_DEVELOPMENT=1`` (headerware's own test suite sets it).

    Outside development mode the development key is refused at start-up with the
    command that creates a real key. When it is used, one warning is logged per
    process (not per layer, per build or per worker thread).
"""

from __future__ import annotations

import contextvars
import os
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ._log import logger
from .options import OptionError

__all__ = [
    "DEV_KEY",
    "DEV_MODE_ENV_VAR",
    "ENV_VAR",
    "KEYGEN_HINT",
    "deployment",
    "development_mode",
    "generate_key",
    "load_secret_keys",
]

ENV_VAR = "HEADERWARE_SECRET_KEYS"
#: ``1`` turns development mode on for code that is not a headerware entry point.
DEV_MODE_ENV_VAR = "HEADERWARE_DEVELOPMENT"
#: How to create a key, in every refusal.
KEYGEN_HINT = f"export {ENV_VAR}=$(headerware keygen)"
#: The shortest key accepted: 16 bytes (128 bits) of secret.
MIN_KEY_LENGTH = 16
#: Public, so never a secret: used only with ``allow_dev_key`` in development mode.
DEV_KEY = b"headerware-development-key-do-not-use-in-production"

#: Set by the entry points (:func:`deployment`); ``None``: the environment decides.
_mode: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "headerware_development_mode", default=None
)
_warned = threading.Event()


def development_mode() -> bool:
    """Whether the development key may stand in for a missing one (see the module)."""
    forced = _mode.get()
    if forced is not None:
        return forced
    return os.environ.get(DEV_MODE_ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")


@contextmanager
def deployment(*, development: bool) -> Iterator[None]:
    """Build layers inside as an entry point decides: ``development=False`` refuses
    the development key whatever ``HEADERWARE_DEVELOPMENT`` says."""
    token = _mode.set(development)
    try:
        yield
    finally:
        _mode.reset(token)


def dev_key_used() -> bool:
    """Whether this process has signed with the development key."""
    return _warned.is_set()


def reset_dev_key_warning() -> None:
    """Forget the once-per-process warning (for tests that assert it is logged)."""
    _warned.clear()


def _dev_key(option: str) -> tuple[bytes, ...]:
    if not development_mode():
        raise OptionError(
            option,
            None,
            "no secret key configured, and the development key is refused outside "
            "development mode (it is public: anyone can forge a cookie signed with it)",
            f"{KEYGEN_HINT} (the same in every worker; add older keys after a comma to "
            "rotate); only `headerware run` on 127.0.0.1 or HEADERWARE_DEVELOPMENT=1 "
            "may use the development key",
        )
    if not _warned.is_set():
        _warned.set()
        logger.warning(
            "headerware is signing with the built-in DEVELOPMENT key (%s and every other "
            "layer without a key); production entry points refuse it: %s",
            option,
            KEYGEN_HINT,
            extra={"hw_event": "dev_key_in_use", "hw_fields": {"option": option}},
        )
    return (DEV_KEY,)


def load_secret_keys(
    keys: str | bytes | Sequence[str | bytes] | None = None,
    *,
    allow_dev_key: bool = False,
    option: str = "secret_keys",
) -> tuple[bytes, ...]:
    """The key list to sign with (first) and verify with (all), as bytes.

    Raises :class:`~headerware.options.OptionError` naming ``option`` when a key is
    too short, or there is none and the development key may not stand in
    (``allow_dev_key`` and development mode, see the module).
    """
    if keys is None:
        keys = os.environ.get(ENV_VAR, "")
    raw: list[str | bytes]
    if isinstance(keys, str):
        raw = list(keys.split(","))
    elif isinstance(keys, bytes):
        raw = list(keys.split(b","))
    else:
        raw = list(keys)
    result: list[bytes] = []
    for key in raw:
        data = key.strip().encode("utf-8") if isinstance(key, str) else key.strip()
        if not data:
            continue
        if len(data) < MIN_KEY_LENGTH:
            raise OptionError(
                option,
                f"<a key of {len(data)} bytes>",  # never the key itself
                f"a key of {len(data)} bytes is too short to sign with",
                f"use at least {MIN_KEY_LENGTH} random bytes (`headerware keygen` prints one)",
            )
        if data == DEV_KEY:
            _dev_key(option)  # the public key given by hand: the same rules
        result.append(data)
    if result:
        return tuple(result)
    if allow_dev_key:
        return _dev_key(option)
    raise OptionError(
        option,
        None,
        "no secret key configured",
        f"set {ENV_VAR}=<new key>[,<older key>...] ({KEYGEN_HINT}) or pass {option}=[...]",
    )


def generate_key() -> str:
    """A new random key suitable for ``HEADERWARE_SECRET_KEYS`` (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)
