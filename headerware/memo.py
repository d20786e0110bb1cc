"""The one bounded-cache facility.

A few pure computations repeat with the same input on request after request and
cost real work: verifying a signature, parsing a Cookie or Accept header,
rewriting a Set-Cookie, normalising a path, matching an origin. :class:`Memo`
remembers their results in a bounded dict. It holds at most ``size`` entries and
never a key longer than ``max_key_length``, so no client input can grow it; when
full it is cleared (the next distinct values fill it again). Only cache what is
a pure function of the key and costs more than a dict probe: never a
``str.lower()``.

Every memo registers itself, so tests can start from a clean slate with
:func:`clear_all`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Memo", "clear_all"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_ALL: weakref.WeakSet[Memo[object, object]] = weakref.WeakSet()


class Memo(Generic[K, V]):
    """Results of ``compute(key)`` remembered for at most ``size`` distinct keys."""

    __slots__ = ("__weakref__", "_data", "compute", "max_key_length", "name", "size")

    def __init__(
        self,
        name: str,
        compute: Callable[[K], V],
        *,
        size: int = 1024,
        max_key_length: int = 1024,
    ) -> None:
        self.name = name
        self.compute = compute
        self.size = size
        self.max_key_length = max_key_length
        self._data: dict[K, V] = {}
        _ALL.add(self)  # type: ignore[arg-type]

    def __call__(self, key: K) -> V:
        """``compute(key)``, from memory when it was computed before."""
        data = self._data
        try:
            return data[key]
        except KeyError:
            pass
        value = self.compute(key)
        if isinstance(key, str | bytes) and len(key) > self.max_key_length:
            return value
        if len(data) >= self.size:
            data.clear()
        data[key] = value
        return value

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        """Forget every remembered result."""
        self._data.clear()

    def __repr__(self) -> str:
        return f"Memo({self.name!r}, {len(self._data)}/{self.size})"


def clear_all() -> None:
    """Clear every memo of the process (tests; after rotating keys by hand)."""
    for memo in list(_ALL):
        memo.clear()
