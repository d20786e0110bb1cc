"""CORS: cross-origin resource sharing, to the Fetch standard.

``CORS`` decides, for the routes it covers, which other origins may read the
responses, and answers preflights itself::

    CORS(app, allow_origins=["https://app.example.com"], allow_credentials=True,
         allow_methods=["GET", "POST", "PUT", "DELETE"],
         allow_headers=["Content-Type", "Authorization"])

Why a layer: the rules are easy to get subtly wrong (reflecting any Origin,
prefix/suffix matching, ``*`` with credentials, a missing ``Vary: Origin`` that lets
a cache hand one origin's answer to another). Everything is computed at start-up;
the common per-request decision is one set lookup on the ``Origin`` header
(subdomain-pattern and regex results are remembered per ``Origin`` value).

Origins (see :mod:`headerware.origins` for the exact rules)
    ``allow_origins`` (default: none — closed) lists exact origins, subdomain
    patterns ``https://*.example.com``, or ``*`` alone for public, credential-less
    resources. ``null`` only if literally listed. ``allow_origin_regex`` adds
    regexes matched with ``fullmatch`` (refused at start-up when they can match
    past the end of their host, but for a port: ``example\\.com.*`` would also
    match ``https://example.com.evil.example``); ``allow_origin_func`` a callable
    ``func(origin) -> bool``. A request ``Origin`` must be in the serialized form
    browsers send (lower-case, ASCII, no default port); anything else matches
    nothing, so no spoofed or malformed value is ever reflected.

Preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``)
    Answered without calling the application. Allowed: ``204`` with
    ``Access-Control-Allow-Origin`` (the origin), ``-Allow-Methods``,
    ``-Allow-Headers`` (only when headers were requested), ``-Max-Age``,
    ``-Allow-Credentials``, ``-Allow-Private-Network`` (opt-in). Refused (origin,
    method or a requested header not allowed): ``403`` with a short message and
    *no* CORS headers — the browser fails the request either way; 403 makes the
    refusal visible in logs and dev tools — and a ``cors_refused`` security event
    with the reason. The refusal's body (JSON, HTML or text, as the client's
    ``Accept`` prefers: :func:`headerware.responses.error_response`) says which of
    the *requested* values was refused — ``CORS preflight refused: origin not
    allowed``, ``... method 'PATCH' not allowed``, ``... header 'x-foo' not
    allowed`` — never what the configuration allows. Both carry
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
    of :mod:`headerware.paths`: case-sensitive, most specific wins); each rule
    overrides the top-level options; ``None`` switches CORS off below a broader
    pattern. Without ``rules`` every path is covered. A rule is a grant, so it
    follows the path model's rule for anything laxer
    (:meth:`~headerware.paths.PathRules.agreed`): it applies only when the raw and
    the resolved path pick the same rule (``/public/..%2fapi/x`` gets no grant of
    ``/api/*``). Uncovered routes get no CORS headers and no ``Vary``.

``report_only`` (``False``)
    Change nothing — no headers, no preflight answers — and log the
    ``cors_refused`` events the layer would have acted on, with
    ``report_only=True``. For migrating from another CORS implementation.

A view's extra origin or exposed header (any framework, decided at run time)
    ``cors_allow(environ, origin="https://partner.example", expose_headers=["X-Total"])``
    — ``environ`` is Flask's ``request.environ``, Django's ``request.META`` or a
    bare app's environ; call it before the response starts — amends the route's
    policy for *this* response only, recorded under ``headerware.cors.allow``. The
    origin is treated as if it were listed in the route's ``allow_origins``
    (the rule's ``allow_credentials`` and ``expose_headers`` apply to it): the
    response grants the request's own ``Origin`` when it equals the allowed one,
    never ``*``, and ``Vary: Origin`` stays. ``expose_headers`` are added to the
    rule's for an allowed origin. Checked when called (:class:`ValueError`): the
    origin must be serialized as browsers send it (lower case, no default port, no
    path; not ``null`` or ``*``), header names must be tokens. Later calls add to
    earlier ones. Limits: only covered routes (a view cannot switch CORS on where
    the configuration has it off), and only actual responses — a preflight is
    answered from the configuration before any view runs, so a request that needs
    one (a JSON ``POST``, a custom header, ``PUT``) from an origin the
    configuration does not list is still refused at the preflight: list such
    origins in the configuration.

Put CORS outside (before) the layers that answer early (bearer auth, CSRF), so
their 401/403 carry the CORS headers and the browser can read the error.

Configuration mistakes raise :class:`~headerware.options.OptionError` naming the
option (``allow_credentials``, or ``rules['/api/*'].allow_origins`` inside a rule).
The rules are validated and rendered by :mod:`headerware.cors_rules`.

``describe()`` gives the options as ``CORS`` takes them (``headerware
check-config`` prints them as TOML that pastes back): the top-level options,
``rules`` with each rule's effective options (the defaults under its overrides),
and ``report_only``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .._headers import HeaderList, is_token
from .._log import security_event
from ..core.layer import Layer, Response
from ..cors_rules import ALLOW_KEY, CorsGrant, CorsPolicy, compile_rules
from ..options import boolean
from ..origins import request_origin
from ..paths import PathRules
from ..responses import error_response

if TYPE_CHECKING:
    from ..core.context import Context
    from ..core.layer import ResponseHead

__all__ = ["ALLOW_KEY", "CORS", "cors_allow"]

_CORS_PREFIX = "access-control-"
#: Every CORS response header the Fetch standard defines (headerware owns them on
#: covered routes).
_CORS_RESPONSE_NAMES = frozenset(
    {
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-expose-headers",
        "access-control-max-age",
        "access-control-allow-private-network",
    }
)
_REFUSED_BODY = "CORS preflight refused"


def _not_cors(name: str, value: str) -> bool:
    return name[:15].lower() != _CORS_PREFIX


def cors_allow(
    environ: MutableMapping[str, Any],
    origin: str | None = None,
    *,
    expose_headers: Sequence[str] = (),
) -> None:
    """Allow ``origin`` (and expose ``expose_headers``) on this response only.

    ``environ`` is the request's WSGI environ (Flask's ``request.environ``,
    Django's ``request.META``); call it before the response starts. Raises
    :class:`ValueError` when ``origin`` is not a serialized origin or a header name
    is not a token. See the module documentation for what it can and cannot do.
    """
    origins = () if origin is None else (origin,)
    current = environ.get(ALLOW_KEY)
    if isinstance(current, CorsGrant):
        environ[ALLOW_KEY] = current.extended(origins, expose_headers)
    else:
        environ[ALLOW_KEY] = CorsGrant(origins, expose_headers)


def _grant(ctx: Context) -> CorsGrant | None:
    grant = ctx.published(ALLOW_KEY)
    return grant if isinstance(grant, CorsGrant) else None


class CORS(Layer):
    """Cross-origin resource sharing with strict origin matching and per-route rules."""

    name: ClassVar[str] = "cors"

    def __init__(
        self,
        app: Any = None,
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
        self.report_only = boolean("report_only", report_only)
        self._defaults = {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in defaults.items()
        }
        self._single: CorsPolicy | None = None
        self._rules: PathRules[CorsPolicy | None] | None = None
        self._compiled: dict[str, CorsPolicy | None] = {}
        if rules is None:
            self._single = CorsPolicy(defaults, "")
        else:
            self._compiled = compile_rules(rules, defaults)
            self._rules = PathRules(self._compiled, option="rules")

    # -- helpers ----------------------------------------------------------------

    def _policy(self, ctx: Context) -> CorsPolicy | None:
        """The policy of the request's route; a rule is a grant, so it applies only
        when the raw and the resolved path pick it (``PathRules.agreed``)."""
        single = self._single
        if single is not None:
            return single
        assert self._rules is not None
        found = self._rules.agreed(ctx)
        return None if found is None else found[1]

    def _refuse(self, ctx: Context, origin: str, reason: str, *, preflight: bool) -> None:
        fields: dict[str, Any] = {
            "origin": origin[:200],
            "reason": reason,
            "path": ctx.raw_path[:200],
            "preflight": preflight,
        }
        if self.report_only:
            fields["report_only"] = True
        level = logging.WARNING if preflight else logging.INFO
        security_event("cors_refused", level, **fields)

    def _refused_preflight(
        self, ctx: Context, policy: CorsPolicy, origin: str, method: str
    ) -> tuple[str | None, list[str]]:
        """Why the preflight is refused (``None``: allowed) and the requested headers."""
        if not policy.matcher.allows(origin):
            return "origin not allowed", []
        if not is_token(method):
            return "malformed Access-Control-Request-Method", []
        if not (method in policy.methods or policy.methods_any):
            return f"method {method[:40]!r} not allowed", []
        requested = ctx.header("access-control-request-headers") or ""
        names: list[str] = []
        if not requested:
            return None, names
        allowed = policy.header_names
        for raw in requested.split(","):
            header = raw.strip().lower()
            if not header:
                continue
            if not is_token(header):
                return "malformed Access-Control-Request-Headers", []
            if header not in allowed and (not policy.headers_any or header == "authorization"):
                return f"header {header[:40]!r} not allowed", []
            names.append(header)
        return None, names

    # -- hooks --------------------------------------------------------------------

    def on_request(self, ctx: Context) -> Response | None:
        if ctx.method != "OPTIONS":
            return None
        method = ctx.header("access-control-request-method")
        origin = ctx.header("origin")
        if method is None or origin is None:
            return None  # an ordinary OPTIONS request: the application answers it
        policy = self._policy(ctx)
        if policy is None:
            return None
        ctx.state["cors"] = True  # the response hook has nothing left to do
        refusal, names = self._refused_preflight(ctx, policy, origin, method)
        if refusal is not None:
            self._refuse(ctx, origin, refusal, preflight=True)
            if self.report_only:
                return None
            message = f"{_REFUSED_BODY}: {refusal}"
            return error_response(ctx, "403 Forbidden", message, [policy.preflight_vary])
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
        if policy.pna and (
            (ctx.header("access-control-request-private-network") or "").lower() == "true"
        ):
            headers.append(("Access-Control-Allow-Private-Network", "true"))
        headers.append(policy.preflight_vary)
        return Response.empty("204 No Content", headers)

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        if "cors" in ctx.state:
            return  # a preflight this layer answered (or reported)
        grant = _grant(ctx)  # a view's cors_allow: None on the common path
        if self.report_only:
            self._report(ctx, grant)
            return
        policy = self._policy(ctx)
        if policy is None:
            return
        # On covered routes headerware owns the Access-Control-* response headers.
        if response.has_any(_CORS_RESPONSE_NAMES):
            response.remove_if(_not_cors)
        origin = ctx.header("origin")
        if policy.allow_all:
            response.add("Access-Control-Allow-Origin", "*")
            self._add_actual(response, policy, grant)
        elif origin is not None:
            if policy.matcher.allows(origin) or (grant is not None and origin in grant.origins):
                # Only ever the request's own Origin, never "*": safe with credentials.
                response.add("Access-Control-Allow-Origin", origin)
                self._add_actual(response, policy, grant)
            elif origin != request_origin(ctx.scheme, ctx.host):
                self._refuse(ctx, origin, "origin not allowed", preflight=False)
        response.merge_vary("Origin")

    @staticmethod
    def _add_actual(response: ResponseHead, policy: CorsPolicy, grant: CorsGrant | None) -> None:
        """Credentials and exposed headers of an allowed actual response."""
        if grant is None or not grant.expose_headers:
            response.add_many(policy.actual_block)
            return
        for name, value in grant.actual_headers(policy):
            response.add(name, value)

    def _report(self, ctx: Context, grant: CorsGrant | None) -> None:
        """Report-only: log the refusal of an actual request, touch nothing."""
        origin = ctx.header("origin")
        if origin is None:
            return
        policy = self._policy(ctx)
        if policy is None or policy.matcher.allows(origin):
            return
        if grant is not None and origin in grant.origins:
            return
        if origin != request_origin(ctx.scheme, ctx.host):
            self._refuse(ctx, origin, "origin not allowed", preflight=False)

    def describe(self) -> dict[str, Any]:
        """The options as ``CORS`` takes them: with ``rules``, each rule with its
        effective options (the defaults under its overrides) and the defaults as given."""
        if self._single is not None:
            return {**self._single.describe(), "rules": None, "report_only": self.report_only}
        rules: dict[str, Any] = {}
        for pattern, policy in self._compiled.items():
            described = None if policy is None else policy.describe()
            if described is not None and described["allow_origin_func"] is None:
                del described["allow_origin_func"]  # unset; TOML has no null
            rules[pattern] = described
        return {**self._defaults, "rules": rules, "report_only": self.report_only}
