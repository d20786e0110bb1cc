"""Options: the structured configuration error and the shared validators.

Every layer validates its options at construction with these helpers, so a bad
value fails at start-up with one message style naming the option, the value and
the fix::

    OptionError: hsts_max_age: -1 must be a whole number of seconds >= 0; e.g. 31536000

Configuration (TOML, dicts, PasteDeploy) and ``check-config`` read
:attr:`OptionError.option` to report the full key path
(``security_headers.hsts_max_age``): they never parse the message.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

__all__ = [
    "OptionError",
    "boolean",
    "choice",
    "non_negative_int",
    "positive_int",
    "seconds",
    "string_list",
    "text",
    "wait_seconds",
]

T = TypeVar("T")


class OptionError(ValueError):
    """A configuration value that cannot work: which option, what value, how to fix it."""

    def __init__(self, option: str, value: object, problem: str, fix: str = "") -> None:
        self.option = option
        self.value = value
        self.problem = problem
        self.fix = fix
        super().__init__(self._message())

    def _message(self) -> str:
        message = f"{self.option}: {self.problem}"
        return f"{message}; {self.fix}" if self.fix else message

    def within(self, prefix: str) -> OptionError:
        """The same error with ``prefix.`` in front of the option (config key paths)."""
        if not prefix:
            return self
        option = f"{prefix}.{self.option}" if self.option else prefix
        error = OptionError(option, self.value, self.problem, self.fix)
        error.__cause__ = self.__cause__
        return error

    def __reduce__(self) -> tuple[Any, ...]:
        return (OptionError, (self.option, self.value, self.problem, self.fix))


def boolean(option: str, value: object) -> bool:
    """``value`` when it is ``True`` or ``False`` (not ``"false"``, not ``0``)."""
    if not isinstance(value, bool):
        raise OptionError(option, value, f"{value!r} is not a boolean", "use true or false")
    return value


def _whole(option: str, value: object, minimum: int, what: str, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise OptionError(option, value, f"{value!r} must be {what}", f"e.g. {example}")
    return value


def positive_int(option: str, value: object, *, example: str = "1") -> int:
    """A whole number >= 1."""
    return _whole(option, value, 1, "a whole number >= 1", example)


def non_negative_int(option: str, value: object, *, example: str = "0") -> int:
    """A whole number >= 0."""
    return _whole(option, value, 0, "a whole number >= 0", example)


def seconds(option: str, value: object, *, minimum: int = 0, example: str = "3600") -> int:
    """A duration in whole seconds, at least ``minimum``."""
    return _whole(option, value, minimum, f"a whole number of seconds >= {minimum}", example)


def wait_seconds(option: str, value: object, *, maximum: float, fix: str = "") -> float:
    """A bounded wait in seconds (int or float), more than 0 and at most ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= maximum:
        raise OptionError(
            option,
            value,
            f"{value!r} is not a bounded wait",
            fix or f"use seconds between 0 and {maximum:g}",
        )
    return float(value)


def choice(option: str, value: object, choices: Iterable[T]) -> T:
    """One of ``choices`` (compared as written)."""
    allowed = list(choices)
    if value not in allowed:
        listed = ", ".join(repr(item) for item in allowed)
        raise OptionError(option, value, f"{value!r} is not one of {listed}", "pick one of them")
    return value


def text(option: str, value: object, *, empty: bool = False) -> str:
    """A string (non-empty unless ``empty``)."""
    if not isinstance(value, str) or (not empty and not value):
        raise OptionError(option, value, f"{value!r} must be a non-empty string", "quote it")
    return value


def string_list(option: str, value: object, *, empty: bool = True) -> tuple[str, ...]:
    """A list of strings; a single bare string is refused (``"a,b"`` is a common slip)."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise OptionError(
            option, value, f"{value!r} must be a list of strings", f"write [{value!r}]"
        )
    items = tuple(value)
    for item in items:
        if not isinstance(item, str):
            raise OptionError(option, value, f"{item!r} is not a string", "quote every item")
    if not empty and not items:
        raise OptionError(option, value, "the list is empty", "list at least one value")
    return items
