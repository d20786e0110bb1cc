"""Secret keys for signing: configuration, environment, rotation.

A key list is rotation: the first (newest) key signs, every key verifies. Keys come
from the option or, when it is not given, from ``HEADERWARE_SECRET_KEYS``
(comma-separated, newest first). With no key at all, construction fails and names
the setting; a development key is used only when explicitly allowed, with a logged
warning.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence

from ._log import logger
from .options import OptionError

ENV_VAR = "HEADERWARE_SECRET_KEYS"
#: The shortest key accepted: 16 bytes (128 bits) of secret.
MIN_KEY_LENGTH = 16
#: Used only with ``allow_dev_key=True``; never for production.
DEV_KEY = b"headerware-development-key-do-not-use-in-production"


def load_secret_keys(
    keys: str | bytes | Sequence[str | bytes] | None = None,
    *,
    allow_dev_key: bool = False,
    option: str = "secret_keys",
) -> tuple[bytes, ...]:
    """The key list to sign with (first) and verify with (all), as bytes.

    Raises :class:`~headerware.options.OptionError` naming ``option`` when a key is
    too short or there is none (and no development key is allowed).
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
        result.append(data)
    if result:
        return tuple(result)
    if allow_dev_key:
        logger.warning(
            "headerware is signing with the built-in DEVELOPMENT key (%s): set %s before deploying",
            option,
            ENV_VAR,
            extra={"hw_event": "dev_key_in_use", "hw_fields": {"option": option}},
        )
        return (DEV_KEY,)
    raise OptionError(
        option,
        None,
        "no secret key configured",
        f"set {ENV_VAR}=<new key>[,<older key>...] (generate one with `headerware keygen`) "
        f"or pass {option}=[...]",
    )


def generate_key() -> str:
    """A new random key suitable for ``HEADERWARE_SECRET_KEYS`` (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)
