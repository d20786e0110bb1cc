"""Request and response headers: validation, limits, and rules for what goes out.

Request headers
---------------
:class:`RequestHeaders` (config name ``request_headers``) refuses requests whose
headers a WSGI application should never see:

* a header value with a control character (NUL, CR, LF, DEL, ... — horizontal tab
  is allowed, as in RFC 9110) or a character outside latin-1 (PEP 3333 environ
  strings are latin-1 decoded bytes), or a header whose name, as the server
  mangled it into ``HTTP_*``, is not a token: **400 Bad Request**;
* more than ``max_count`` headers, more than ``max_size`` bytes of headers in
  total, or one value longer than ``max_value_size``: **431 Request Header Fields
  Too Large** (RFC 6585).

The answer is a short message naming the problem (never echoing the value), in
the body type the client prefers, like every layer's refusal (JSON by default,
HTML or plain text when Accept prefers them:
:func:`headerware.responses.error_response`). It is logged as the security event
``request_header_malformed`` or ``request_headers_too_large`` with the header
name and sizes. The layers outside
this one still add their headers to the refusal (security headers, CORS, ...).

Options (keyword-only):

``max_count=100``
    Headers per request. gunicorn (``limit_request_fields``) and Apache
    (``LimitRequestFields``) both stop at 100; browsers send 10 to 25.
``max_size=16384``
    Bytes of all headers together, counted as on the wire (``Name: value\\r\\n``).
    16 KiB is Node.js's default ``--max-http-header-size``, which real browsers
    and their cookie jars already fit in; nginx allows 32 KiB in 8 KiB lines.
``max_value_size=8192``
    Bytes of one value: nginx's ``large_client_header_buffers`` line size and
    just above gunicorn's ``limit_request_field_size`` (8190), so a request that a
    production server accepts is not refused here.
``report_only=False``
    Log the same events, with ``report_only=True``, and let every request through.

Servers have already folded the header names into ``HTTP_UPPER_CASE`` keys (and
gunicorn drops names with underscores), so the original spelling of a name cannot
be checked; what is left of it, as the request context lists it
(``Context.header_items``), is.

Reading a request header from any framework
-------------------------------------------
:func:`request_header` reads one header case-insensitively from a WSGI environ:
Flask's ``request.environ``, Django's ``request.META`` and a bare app's environ all
work, including ``Content-Type`` and ``Content-Length`` (which live in
``CONTENT_TYPE`` / ``CONTENT_LENGTH``, not ``HTTP_*``; empty means absent).

Response headers
----------------
:class:`ResponseHeaders` (config name ``response_headers``) writes headers on every
response, whatever framework produced it. Four options, one per merge policy:

``set={name: value}``
    Overwrite: the app's headers of that name are replaced by headerware's value.
``setdefault={name: value}``
    Keep the app's: headerware's value is used only when the app sent none.
``add={name: value or [values]}``
    Append next to whatever the app sent. ``Vary`` is merged as one token list with
    the app's (``ResponseHead.merge_vary``), never duplicated.
``remove=[names]``
    Remove the app's headers of those names (e.g. ``X-Powered-By``).

A value is a string, or a callable ``(ctx) -> str | None`` evaluated once per
response with the request's :class:`~headerware.core.context.Context`
(``ctx.path``, ``ctx.header("x-request-id")``, ...; ``None``: nothing to add for
this request, the app's header is left as it is). Every name and static value is
checked at construction: a name that is not a token, a hop-by-hop header,
``Content-Length`` (a header-only layer never changes it), a value with CR/LF or
another control character, or one name under two policies raises an
:class:`~headerware.options.OptionError` naming the option (``set``, ``add``,
...) and the header. At run time a callable that
raises, returns a non-string or returns an unsafe value is logged as the security
event ``response_header_dropped`` and its value is dropped, never sent; the rest of
the response, the app's header of that name included, goes out intact.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from .._headers import check_header, check_header_name, is_safe_value, is_token
from .._log import security_event
from ..core.context import Context, current_context
from ..core.layer import Layer, Response
from ..options import OptionError, boolean, positive_int
from ..responses import error_response

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from ..core.layer import ResponseHead

__all__ = ["HeaderValue", "RequestHeaders", "ResponseHeaders", "request_header"]

#: A response header value: a fixed string, or computed per request from the context.
HeaderValue: TypeAlias = "str | Callable[[Context], str | None]"

#: Headers the server keeps outside ``HTTP_*`` (CGI heritage).
_CGI_HEADERS = {"CONTENT_TYPE": "Content-Type", "CONTENT_LENGTH": "Content-Length"}
#: Bytes allowed in a value (tab, visible ASCII and space, obs-text): deleted to test.
_VALUE_BYTES = bytes([0x09, *range(0x20, 0x7F), *range(0x80, 0x100)])
#: Bytes of the token grammar (header names).
_TOKEN_BYTES = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: Wire overhead of one header line beyond name and value: ``": "`` and CRLF.
_LINE_OVERHEAD = 4


def request_header(environ: Mapping[str, Any], name: str, default: str | None = None) -> str | None:
    """The request header ``name`` (any case) from a WSGI environ, Django ``META`` or an
    ASGI scope (read through headerware's context when a stack wrapped the request).

    ``Content-Type`` and ``Content-Length`` are read from ``CONTENT_TYPE`` and
    ``CONTENT_LENGTH``; an empty value there means the header was not sent.
    """
    key = name.upper().replace("-", "_")
    ctx = current_context(environ)
    if ctx is not None:
        found = ctx.header(name.lower())
        return default if found is None or (not found and key in _CGI_HEADERS) else found
    if key in _CGI_HEADERS:
        value = environ.get(key)
        return value if isinstance(value, str) and value else default
    value = environ.get("HTTP_" + key)
    return value if isinstance(value, str) else default


#: In a request value a tab is legal (RFC 9110 field-content); other controls are not.
_REQUEST_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _value_is_clean(value: str) -> bool:
    # Fast path in C for the common printable-ASCII value; the regex only for the rest.
    if value.isascii() and value.isprintable():
        return True
    return _REQUEST_CONTROL.search(value) is None and is_safe_value(value.replace("\t", " "))


def _all_clean(names: str, values: str) -> bool:
    """True when every name is made of token bytes and every value of allowed bytes."""
    try:
        return not (
            values.encode("latin-1").translate(None, _VALUE_BYTES)
            or names.encode("ascii").translate(None, _TOKEN_BYTES)
        )
    except UnicodeEncodeError:
        return False


class RequestHeaders(Layer):
    """Refuse malformed (400) and oversized (431) request headers before the app runs."""

    name: ClassVar[str] = "request_headers"

    def __init__(
        self,
        app: WSGIApplication | None = None,
        *,
        max_count: int = 100,  # gunicorn's and Apache's limit; browsers send ~20
        max_size: int = 16384,  # Node.js's default total header size
        max_value_size: int = 8192,  # nginx's header line buffer, ~gunicorn's field limit
        report_only: bool = False,  # log what would be refused, refuse nothing
    ) -> None:
        super().__init__(app)
        self.max_count = positive_int("max_count", max_count, example="100")
        self.max_size = positive_int("max_size", max_size, example="16384")
        self.max_value_size = positive_int("max_value_size", max_value_size, example="8192")
        if self.max_value_size > self.max_size:
            raise OptionError(
                "max_value_size",
                max_value_size,
                f"{max_value_size} is larger than max_size={max_size}; one value can never "
                "exceed the total",
                "lower it",
            )
        self.report_only = boolean("report_only", report_only)

    def describe(self) -> dict[str, Any]:
        return {
            "max_count": self.max_count,
            "max_size": self.max_size,
            "max_value_size": self.max_value_size,
            "report_only": self.report_only,
        }

    def on_request(self, ctx: Context) -> Response | None:
        # Fast path, C-speed bytes methods over all headers at once: every valid
        # request within the limits ends here; the exact pass only names a culprit.
        items = ctx.header_items()
        names = [name for name, _ in items]
        values = [value for _, value in items]
        joined_names = "".join(names)
        joined_values = "".join(values)
        count = len(items)
        if (
            count <= self.max_count
            and (
                not items
                or (min(map(len, names)) > 0 and max(map(len, values)) <= self.max_value_size)
            )
            and len(joined_names) + len(joined_values) + _LINE_OVERHEAD * count <= self.max_size
            and _all_clean(joined_names, joined_values)
        ):
            return None
        return self._inspect(ctx, items)

    def _inspect(self, ctx: Context, items: list[tuple[str, str]]) -> Response | None:
        """Check header by header, to name the header that breaks a rule."""
        total = 0
        max_value_size = self.max_value_size
        for name, value in items:
            if not is_token(name):
                return self._malformed(ctx, name, "invalid name")
            size = len(value)
            if size > max_value_size:
                return self._too_large(ctx, name, "value_size", size, max_value_size)
            if not _value_is_clean(value):
                return self._malformed(ctx, name, "control character in value")
            total += len(name) + size + _LINE_OVERHEAD
        if len(items) > self.max_count:
            return self._too_large(ctx, None, "count", len(items), self.max_count)
        if total > self.max_size:
            return self._too_large(ctx, None, "size", total, self.max_size)
        return None

    def _malformed(self, ctx: Context, header: str, reason: str) -> Response | None:
        display = _display_name(header)
        security_event(
            "request_header_malformed",
            layer=self.name,
            header=display,
            reason=reason,
            **({"report_only": True} if self.report_only else {}),
        )
        if self.report_only:
            return None
        return error_response(ctx, "400 Bad Request", f"Bad Request: malformed {display} header")

    def _too_large(
        self, ctx: Context, header: str | None, limit: str, size: int, maximum: int
    ) -> Response | None:
        fields: dict[str, Any] = {"layer": self.name, "limit": limit, "size": size, "max": maximum}
        if header is not None:
            fields["header"] = _display_name(header)
        if self.report_only:
            fields["report_only"] = True
        security_event("request_headers_too_large", **fields)
        if self.report_only:
            return None
        if limit == "count":
            message = "too many request headers"
        elif limit == "size":
            message = "request headers too large"
        else:
            message = f"{fields['header']} header too large"
        return error_response(
            ctx,
            "431 Request Header Fields Too Large",
            f"Request Header Fields Too Large: {message}",
        )


def _display_name(header: str) -> str:
    """A header name safe to log and to echo: unsafe characters replaced, clipped."""
    if not header:
        return "(empty)"
    return "".join(c if c.isascii() and c.isprintable() else "?" for c in header)[:64]


# -- response headers ----------------------------------------------------------------

#: Per-header merge policies, by the option that sets them.
_POLICIES = ("set", "setdefault", "add")
#: Headers a header-only layer must not write: the body length belongs to the body.
_FORBIDDEN = frozenset({"content-length"})


class _Rule:
    """One header headerware writes: its name, policy and static or dynamic value."""

    __slots__ = ("compute", "name", "policy", "value")

    def __init__(self, name: str, policy: str, value: HeaderValue) -> None:
        self.name = name
        self.policy = policy
        self.value: str | None = value if isinstance(value, str) else None
        self.compute: Callable[[Context], str | None] | None = (
            None if isinstance(value, str) else value
        )

    @property
    def is_vary(self) -> bool:
        return self.policy == "add" and self.name.lower() == "vary"


def _check_name(option: str, raw: object) -> str:
    name = check_header_name(raw, option=option)
    if name.lower() in _FORBIDDEN:
        raise OptionError(
            option,
            name,
            f"{name!r} is computed from the body by the server or the app",
            "remove it from the configuration",
        )
    return name


def _rule(option: str, name: str, value: object) -> _Rule:
    if callable(value):
        return _Rule(name, option, value)
    if not isinstance(value, str):
        raise OptionError(
            option,
            value,
            f"the value of {name!r} is {value!r}",
            "use a string or a callable (ctx) -> str | None",
        )
    check_header(name, value, option=option)
    return _Rule(name, option, value)


class ResponseHeaders(Layer):
    """Set, add, default or remove response headers; values static or per request."""

    name: ClassVar[str] = "response_headers"

    def __init__(
        self,
        app: WSGIApplication | None = None,
        *,
        set: Mapping[str, HeaderValue] | None = None,  # werkzeug's Headers verbs
        setdefault: Mapping[str, HeaderValue] | None = None,
        add: Mapping[str, HeaderValue | Sequence[HeaderValue]] | None = None,
        remove: Iterable[str] = (),
    ) -> None:
        super().__init__(app)
        self._claimed: dict[str, str] = {}
        rules: list[_Rule] = []
        for policy, mapping in (("set", set), ("setdefault", setdefault)):
            for name, value in (mapping or {}).items():
                rules.append(_rule(policy, self._claim(policy, name), value))
        for name, added in (add or {}).items():
            self._claim("add", name)
            values = list(added) if isinstance(added, list | tuple) else [added]
            if not values:
                raise OptionError("add", added, f"{name!r} has an empty list of values")
            rules.extend(_rule("add", name, item) for item in values)
        if isinstance(remove, str):
            raise OptionError(
                "remove", remove, f"{remove!r} is a string, not a list", f"write [{remove!r}]"
            )
        self._removed = tuple(self._claim("remove", name) for name in remove)
        self._rules = tuple(rules)
        self.handles_response = bool(rules or self._removed)

    def _claim(self, policy: str, name: object) -> str:
        """Check a configured name; one header, one policy (``add`` may repeat)."""
        checked = _check_name(policy, name)
        lower = checked.lower()
        earlier = self._claimed.get(lower)
        if earlier is not None and (earlier != policy or policy != "add"):
            raise OptionError(
                policy,
                name,
                f"header {checked!r} is configured under both {earlier!r} and {policy!r}",
                "give each header one policy",
            )
        self._claimed[lower] = policy
        return checked

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {policy: {} for policy in _POLICIES}
        for r in self._rules:
            shown = r.value if r.value is not None else f"<callable {_callable_name(r.compute)}>"
            if r.policy == "add":
                described["add"].setdefault(r.name, []).append(shown)
            else:
                described[r.policy][r.name] = shown
        described["remove"] = list(self._removed)
        return described

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        for name in self._removed:
            response.remove(name)
        for rule in self._rules:
            value = rule.value if rule.compute is None else self._compute(ctx, rule)
            if value is None:
                continue
            if rule.policy == "set":
                response.set(rule.name, value)
            elif rule.policy == "setdefault":
                response.setdefault(rule.name, value)
            elif rule.is_vary:
                response.merge_vary(*filter(None, (token.strip() for token in value.split(","))))
            else:
                response.add(rule.name, value)

    def _compute(self, ctx: Context, rule: _Rule) -> str | None:
        assert rule.compute is not None
        try:
            value = rule.compute(ctx)
        except Exception as exc:
            security_event(
                "response_header_dropped",
                layer=self.name,
                header=rule.name,
                reason="callable raised",
                error=type(exc).__name__,
            )
            return None
        if value is None:
            return None
        if not isinstance(value, str):
            reason = f"callable returned {type(value).__name__}, not str"
        elif not (value.isascii() and value.isprintable()) and not is_safe_value(value):
            reason = "control character or non-latin-1 character in value"
        else:
            return value
        security_event("response_header_dropped", layer=self.name, header=rule.name, reason=reason)
        return None


def _callable_name(func: object) -> str:
    return str(getattr(func, "__qualname__", None) or type(func).__name__)
