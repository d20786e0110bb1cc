"""CORS: cross-origin resource sharing, to the Fetch standard.

``CORS`` decides, for the routes it covers, which other origins may read the
responses, and answers preflights itself::

    CORS(app, allow_origins=["https://app.example.com"], allow_credentials=True,
         allow_methods=["GET", "POST", "PUT", "DELETE"],
         allow_headers=["Content-Type", "Authorization"])

Why a layer: the rules are easy to get subtly wrong (reflecting any Origin,
prefix/suffix matching, ``*`` with credentials, a missing ``Vary: Origin`` that lets
a cache hand one origin's answer to another). Everything is computed at start-up;
the common per-request decision is one set lookup on the ``Origin`` header.

Origins (see :mod:`headerware.origins` for the exact rules)
    ``allow_origins`` (default: none — closed) lists exact origins, subdomain
    patterns ``https://*.example.com``, or ``*`` alone for public, credential-less
    resources. ``null`` only if literally listed. ``allow_origin_regex`` adds
    regexes matched with ``fullmatch``; ``allow_origin_func`` a callable
    ``func(origin) -> bool``. A request ``Origin`` must be in the serialized form
    browsers send (lower-case, ASCII, no default port); anything else matches
    nothing, so no spoofed or malformed value is ever reflected.

Preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``)
    Answered without calling the application. Allowed: ``204`` with
    ``Access-Control-Allow-Origin`` (the origin), ``-Allow-Methods``,
    ``-Allow-Headers`` (only when headers were requested), ``-Max-Age``,
    ``-Allow-Credentials``, ``-Allow-Private-Network`` (opt-in). Refused (origin,
    method or a requested header not allowed): ``403`` with a plain message and
    *no* CORS headers — the browser fails the request either way; 403 makes the
    refusal visible in logs and dev tools — and a ``cors_refused`` security event
    with the reason. Both carry
    ``Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers``.

Actual responses
    For an allowed origin: ``Access-Control-Allow-Origin`` (the origin, or ``*``
    for a public configuration), ``-Allow-Credentials: true`` when configured,
    ``-Expose-Headers``. ``Vary: Origin`` is merged into *every* response of a
    covered route, error statuses and responses without ``Allow-Origin``
    included. On covered routes headerware owns the ``Access-Control-*`` response
    headers: any the application set are replaced. A same-origin request (Origin
    equal to the request's own scheme and host) is not logged as a refusal.

Options (per rule, or top-level as the defaults of every rule)
    ``allow_methods`` (``("GET", "HEAD")``: closed) — ``*`` echoes any requested
    method; methods are case-sensitive, as in HTTP. A preflight for a method not
    listed is refused, CORS-safelisted ones included.
    ``allow_headers`` (none) — request headers a preflight may ask for,
    case-insensitive; ``*`` allows any *except* ``Authorization``, which must be
    listed by name (as the Fetch standard says).
    ``expose_headers`` (none) — response headers scripts may read; ``*`` only
    without credentials (browsers read it literally otherwise).
    ``allow_credentials`` (``False``) — cookies and HTTP auth; refused with ``*``.
    ``max_age`` (``600`` seconds; ``None`` omits it) — how long a preflight result
    is cached; browsers cap it (Chrome: 2 h).
    ``allow_private_network`` (``False``) — answer Private Network Access
    preflights with ``Access-Control-Allow-Private-Network: true``.

Routes
    ``rules={"/api/*": {...}, "/data": {...}}`` covers only those paths (patterns
    of :mod:`headerware.paths`: normalised ``PATH_INFO``, case-sensitive, most
    specific wins); each rule overrides the top-level options; ``None`` switches
    CORS off below a broader pattern. Without ``rules`` every path is covered.
    Uncovered routes get no CORS headers and no ``Vary``.

``report_only`` (``False``)
    Change nothing — no headers, no preflight answers — and log the
    ``cors_refused`` events the layer would have acted on, with
    ``report_only=True``. For migrating from another CORS implementation.

Put CORS outside (before) the layers that answer early (bearer auth, CSRF), so
their 401/403 carry the CORS headers and the browser can read the error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .._headers import HeaderList, is_token, merge_vary
from .._log import security_event
from ..engine import Context, Layer, Response
from ..origins import OriginMatcher, request_origin
from ..paths import PathRules

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

__all__ = ["CORS"]

_REPEATED_SLASHES = re.compile(r"/{2,}")

_VARY_ACTUAL = ("Origin",)
_VARY_HEADER = ("Vary", "Origin")
_VARY_PREFLIGHT = (
    "Origin",
    "Access-Control-Request-Method",
    "Access-Control-Request-Headers",
)
_VARY_PNA = "Access-Control-Request-Private-Network"

#: Response header names as the application spelled them -> 1 ``Vary``, 2
#: ``Access-Control-*``, 0 anything else: the response hook's scan is a dict lookup
#: per header, not a ``lower()``. Bounded (cleared when full, long names not kept).
_NAME_KINDS: dict[str, int] = {}
_NAME_KINDS_SIZE = 1024


def _name_kind(key: str) -> int:
    lower = key.lower()
    kind = 1 if lower == "vary" else 2 if lower[:15] == "access-control-" else 0
    if len(key) <= 64:
        if len(_NAME_KINDS) >= _NAME_KINDS_SIZE:
            _NAME_KINDS.clear()
        _NAME_KINDS[key] = kind
    return kind


_REFUSED_BODY = "CORS preflight refused"
_POLICY_OPTIONS = frozenset(
    {
        "allow_origins",
        "allow_origin_regex",
        "allow_origin_func",
        "allow_methods",
        "allow_headers",
        "expose_headers",
        "allow_credentials",
        "max_age",
        "allow_private_network",
    }
)


class _Policy:
    """One rule's options, validated and rendered into header values."""

    __slots__ = (
        "actual_headers",
        "allow_all",
        "credentials",
        "header_names",
        "headers_any",
        "headers_value",
        "matcher",
        "max_age",
        "methods",
        "methods_any",
        "methods_value",
        "options",
        "pna",
        "preflight_fixed",
        "preflight_vary",
    )

    def __init__(self, options: Mapping[str, Any], where: str) -> None:
        unknown = set(options) - _POLICY_OPTIONS
        if unknown:
            raise ValueError(
                f"{where}: unknown option(s) {sorted(unknown)}; use {sorted(_POLICY_OPTIONS)}"
            )
        self.options = dict(options)
        credentials = options.get("allow_credentials", False)
        if not isinstance(credentials, bool):
            raise ValueError(f"{where}allow_credentials: {credentials!r} must be True or False")
        self.credentials = credentials
        self.matcher = OriginMatcher(
            options.get("allow_origins", ()),
            regex=options.get("allow_origin_regex", ()),
            func=options.get("allow_origin_func"),
            option=f"{where}allow_origins",
        )
        self.allow_all = self.matcher.allow_all
        if self.allow_all and credentials:
            raise ValueError(
                f"{where}allow_origins: '*' together with allow_credentials=True is refused by "
                "browsers and would expose credentialed responses to every site; list the "
                "trusted origins explicitly, or set allow_credentials=False"
            )

        methods = _names(options.get("allow_methods", ("GET", "HEAD")), f"{where}allow_methods")
        self.methods_any = "*" in methods
        self.methods = frozenset(methods) - {"*"}
        self.methods_value = ", ".join(m for m in methods if m != "*")

        headers = _names(options.get("allow_headers", ()), f"{where}allow_headers")
        self.headers_any = "*" in headers
        self.header_names = frozenset(h.lower() for h in headers) - {"*"}
        self.headers_value = ", ".join(h for h in headers if h != "*")

        expose = _names(options.get("expose_headers", ()), f"{where}expose_headers")
        if "*" in expose and credentials:
            raise ValueError(
                f"{where}expose_headers: '*' is read literally by browsers on credentialed "
                "requests; list the response headers to expose by name"
            )

        max_age = options.get("max_age", 600)
        if max_age is not None and (
            isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0
        ):
            raise ValueError(
                f"{where}max_age: {max_age!r} must be a number of seconds >= 0, or None"
            )
        self.max_age = max_age
        pna = options.get("allow_private_network", False)
        if not isinstance(pna, bool):
            raise ValueError(f"{where}allow_private_network: {pna!r} must be True or False")
        self.pna = pna

        actual: HeaderList = []
        if credentials:
            actual.append(("Access-Control-Allow-Credentials", "true"))
        if expose:
            actual.append(("Access-Control-Expose-Headers", ", ".join(expose)))
        self.actual_headers = tuple(actual)

        fixed: HeaderList = []
        if not self.methods_any:
            fixed.append(("Access-Control-Allow-Methods", self.methods_value))
        if max_age is not None:
            fixed.append(("Access-Control-Max-Age", str(max_age)))
        if credentials:
            fixed.append(("Access-Control-Allow-Credentials", "true"))
        self.preflight_fixed = tuple(fixed)
        vary = list(_VARY_PREFLIGHT) + ([_VARY_PNA] if pna else [])
        self.preflight_vary = ("Vary", ", ".join(vary))

    def describe(self) -> dict[str, Any]:
        return {
            **self.matcher.describe(),
            "allow_methods": ["*"] if self.methods_any else sorted(self.methods),
            "allow_headers": sorted(self.header_names) + (["*"] if self.headers_any else []),
            "expose_headers": dict(self.actual_headers).get("Access-Control-Expose-Headers", ""),
            "allow_credentials": self.credentials,
            "max_age": self.max_age,
            "allow_private_network": self.pna,
        }


def _names(values: Sequence[str] | str, option: str) -> list[str]:
    """A validated list of header names or methods (tokens) or ``*``."""
    if isinstance(values, str):
        raise ValueError(f"{option}: give a list, not one string: [{values!r}]")
    names: list[str] = []
    for value in values:
        if not isinstance(value, str) or (value != "*" and not is_token(value)):
            raise ValueError(f"{option}: {value!r} is not a valid name (an HTTP token) or '*'")
        if value not in names:
            names.append(value)
    return names


class CORS(Layer):
    """Cross-origin resource sharing with strict origin matching and per-route rules."""

    name: ClassVar[str] = "cors"

    def __init__(
        self,
        app: WSGIApplication | None = None,
        *,
        # Closed by default: no origin is allowed until listed.
        allow_origins: Sequence[str] = (),
        allow_origin_regex: Sequence[str | re.Pattern[str]] = (),
        allow_origin_func: Callable[[str], bool] | None = None,
        # Only the safe methods; anything else must be asked for.
        allow_methods: Sequence[str] = ("GET", "HEAD"),
        allow_headers: Sequence[str] = (),
        expose_headers: Sequence[str] = (),
        # Credentials are an explicit decision.
        allow_credentials: bool = False,
        # Ten minutes of preflight caching: fewer round trips, quick to take effect.
        max_age: int | None = 600,
        allow_private_network: bool = False,
        rules: Mapping[str, Mapping[str, Any] | None] | None = None,
        report_only: bool = False,
    ) -> None:
        super().__init__(app)
        defaults: dict[str, Any] = {
            "allow_origins": allow_origins,
            "allow_origin_regex": allow_origin_regex,
            "allow_origin_func": allow_origin_func,
            "allow_methods": allow_methods,
            "allow_headers": allow_headers,
            "expose_headers": expose_headers,
            "allow_credentials": allow_credentials,
            "max_age": max_age,
            "allow_private_network": allow_private_network,
        }
        self.report_only = bool(report_only)
        if not self.report_only:
            # The engine's shared scan: without these names, ``_on_clean``.
            self._watched = frozenset({"vary"})
            self._watched_prefixes = ("access-control-",)
            self._adds = frozenset({"vary"})
            self._adds_prefixes = ("access-control-",)
        self._single: _Policy | None = None
        self._rules: PathRules[_Policy | None] | None = None
        self._compiled: dict[str, _Policy | None] = {}
        if rules is None:
            self._single = _Policy(defaults, "")
        else:
            if not isinstance(rules, Mapping):
                raise ValueError(
                    "rules: give a mapping of path pattern to options, e.g. "
                    "{'/api/*': {'allow_origins': ['https://app.example.com']}}"
                )
            compiled: dict[str, _Policy | None] = {}
            for pattern, overrides in rules.items():
                if overrides is None:
                    compiled[pattern] = None
                    continue
                if not isinstance(overrides, Mapping):
                    raise ValueError(
                        f"rules[{pattern!r}]: {overrides!r} must be a dict of options or None"
                    )
                compiled[pattern] = _Policy({**defaults, **overrides}, f"rules[{pattern!r}].")
            self._rules = PathRules(compiled, option="rules")
            self._compiled = compiled

    # -- helpers ----------------------------------------------------------------

    def _policy(self, environ: WSGIEnvironment) -> _Policy | None:
        single = self._single
        if single is not None:
            return single
        assert self._rules is not None
        path = environ.get("PATH_INFO") or "/"
        found = self._rules.resolve(path)
        if found is not None and "/." in path:
            # Servers decode %2f into PATH_INFO and frameworks may route the raw path
            # (``/public/..%2fapi`` is not ``/api`` to a <path:> route): grant only
            # when the raw and the resolved path fall under the same rule.
            raw = self._rules.lookup(_REPEATED_SLASHES.sub("/", path))
            if raw is None or raw[0] != found[0]:
                return None
        return None if found is None else found[1]

    def _refuse(
        self, environ: WSGIEnvironment, origin: str, reason: str, *, preflight: bool
    ) -> None:
        fields: dict[str, Any] = {
            "origin": origin[:200],
            "reason": reason,
            "path": (environ.get("PATH_INFO") or "/")[:200],
            "preflight": preflight,
        }
        if self.report_only:
            fields["report_only"] = True
        level = logging.WARNING if preflight else logging.INFO
        security_event("cors_refused", level, **fields)

    # -- hooks --------------------------------------------------------------------

    def on_request(self, ctx: Context) -> Response | None:
        environ = ctx.environ
        if environ.get("REQUEST_METHOD") != "OPTIONS":
            return None
        method = environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD")
        origin = environ.get("HTTP_ORIGIN")
        if method is None or origin is None:
            return None  # an ordinary OPTIONS request: the application answers it
        policy = self._policy(environ)
        if policy is None:
            return None
        ctx.state["cors"] = True  # the response hook has nothing left to do
        refusal: str | None = None
        if not policy.matcher.allows(origin):
            refusal = "origin not allowed"
        elif not (method in policy.methods or (policy.methods_any and is_token(method))):
            refusal = f"method {method[:40]!r} not allowed"
        requested = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "")
        names: list[str] = []
        if refusal is None and requested:
            allowed = policy.header_names
            for raw in requested.split(","):
                header = raw.strip().lower()
                if not header:
                    continue
                if not is_token(header):
                    refusal = "malformed Access-Control-Request-Headers"
                    break
                if header not in allowed and (not policy.headers_any or header == "authorization"):
                    refusal = f"header {header[:40]!r} not allowed"
                    break
                names.append(header)
        if refusal is not None:
            self._refuse(environ, origin, refusal, preflight=True)
            if self.report_only:
                return None
            return Response.text("403 Forbidden", _REFUSED_BODY, [policy.preflight_vary])
        if self.report_only:
            return None
        headers: HeaderList = [
            ("Access-Control-Allow-Origin", "*" if policy.allow_all else origin),
            *policy.preflight_fixed,
        ]
        if policy.methods_any:
            headers.append(("Access-Control-Allow-Methods", method))
        if names:
            value = ", ".join(names) if policy.headers_any else policy.headers_value
            headers.append(("Access-Control-Allow-Headers", value))
        if (
            policy.pna
            and environ.get("HTTP_ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK", "").lower() == "true"
        ):
            headers.append(("Access-Control-Allow-Private-Network", "true"))
        headers.append(policy.preflight_vary)
        return Response.empty("204 No Content", headers)

    def on_response(self, ctx: Context, status: str, headers: HeaderList) -> str | None:
        if self.report_only:
            self._report(ctx)
            return None
        state = ctx.state
        if "cors" in state:
            return None
        environ = ctx.environ
        policy = self._policy(environ)
        if policy is None:
            return None
        # On covered routes headerware owns the Access-Control-* response headers.
        has_vary = has_cors = False
        kinds = _NAME_KINDS
        for key, _ in headers:
            kind = kinds.get(key)
            if kind is None:
                kind = _name_kind(key)
            if kind:
                if kind == 1:  # Vary
                    has_vary = True
                else:  # Access-Control-*
                    has_cors = True
        if has_cors:
            headers[:] = [h for h in headers if h[0][:15].lower() != "access-control-"]
        origin = environ.get("HTTP_ORIGIN")
        if policy.allow_all:
            headers.append(("Access-Control-Allow-Origin", "*"))
            headers.extend(policy.actual_headers)
        elif origin is not None:
            if policy.matcher.allows(origin):
                headers.append(("Access-Control-Allow-Origin", origin))
                headers.extend(policy.actual_headers)
            elif origin != request_origin(environ):
                self._refuse(environ, origin, "origin not allowed", preflight=False)
        if has_vary:
            merge_vary(headers, _VARY_ACTUAL)
        else:
            headers.append(_VARY_HEADER)
        return None

    def _on_clean(self, ctx: Context, headers: HeaderList, content_type: str | None) -> None:
        # The engine's scan found no Vary and no Access-Control-* header.
        if "cors" in ctx.state:
            return
        environ = ctx.environ
        policy = self._policy(environ)
        if policy is None:
            return
        origin = environ.get("HTTP_ORIGIN")
        if policy.allow_all:
            headers.append(("Access-Control-Allow-Origin", "*"))
            headers.extend(policy.actual_headers)
        elif origin is not None:
            if policy.matcher.allows(origin):
                headers.append(("Access-Control-Allow-Origin", origin))
                headers.extend(policy.actual_headers)
            elif origin != request_origin(environ):
                self._refuse(environ, origin, "origin not allowed", preflight=False)
        headers.append(_VARY_HEADER)

    def _report(self, ctx: Context) -> None:
        """Report-only: log the refusal of an actual request, touch nothing."""
        if "cors" in ctx.state:
            return
        environ = ctx.environ
        origin = environ.get("HTTP_ORIGIN")
        if origin is None:
            return
        policy = self._policy(environ)
        if policy is None or policy.matcher.allows(origin):
            return
        if origin != request_origin(environ):
            self._refuse(environ, origin, "origin not allowed", preflight=False)

    def describe(self) -> dict[str, Any]:
        if self._single is not None:
            rules: dict[str, Any] = {"/*": self._single.describe()}
        else:
            rules = {
                pattern: None if policy is None else policy.describe()
                for pattern, policy in self._compiled.items()
            }
        return {"rules": rules, "report_only": self.report_only}
