"""Content-Security-Policy: strict policies, per-request nonces, reporting.

:class:`ContentSecurityPolicy` (config name ``"csp"``) sends a validated policy
(see :mod:`headerware.csp_policy` for the builder and its checks) on every
response, with a fresh nonce per request::

    app = ContentSecurityPolicy(app)                       # the strict default
    app = ContentSecurityPolicy(app, policy={**DEFAULT_POLICY,
                                             "img-src": ["'self'", "data:"]})

The nonce
    16 bytes from ``os.urandom`` (128 bits), base64, new for every request, added
    as ``'nonce-...'`` to each directive in ``nonce_directives`` -- also when the
    directive is only inherited from ``default-src``: then it is written out from
    ``default-src``'s sources plus the nonce, without ``'none'``. An explicit
    ``'none'`` (``script-src 'none'``) is left alone. The layer publishes it for
    the application under ``headerware.csp.nonce``; the application reads it
    with :func:`csp_nonce` (Flask: ``csp_nonce(request.environ)``, Django:
    ``csp_nonce(request.META)``) and writes it into ``<script nonce="...">``.
    :func:`csp_nonce` raises ``LookupError`` when no nonce was made for the
    request (headerware not wrapping the app, or no nonce configured), because a
    page rendered with an empty nonce would fail silently in the browser; pass
    ``default=""`` to opt out of the error.

Performance
    Every header value is rendered at construction, for each profile (document or
    JSON, plain HTTP or HTTPS). With a nonce, the policy is precomputed as the
    parts around the nonce, and a request only pays for the nonce and one
    ``str.join``.

Options (keyword-only; defaults are the strict ones):

``policy=DEFAULT_POLICY``
    The enforced policy for documents (any response that is not JSON):
    ``default-src 'none'; script-src 'self' 'nonce-…'; style-src 'self'
    'nonce-…'; img-src 'self'; font-src 'self'; connect-src 'self';
    manifest-src 'self'; form-action 'self'; base-uri 'none';
    frame-ancestors 'none'; object-src 'none'``. This earns the top CSP result
    of Mozilla's HTTP Observatory (``csp-implemented-with-no-unsafe-default-src-none``,
    +10): ``default-src`` is ``'none'`` alone, scripts and styles need the nonce
    (no ``'unsafe-inline'``/``'unsafe-eval'``), and every directive it looks at
    (object-src, base-uri, form-action, frame-ancestors) is explicit and narrow.
    ``None`` sends no enforced policy (e.g. while rolling out a report-only one).
``report_only_policy=None``
    A second policy sent as ``Content-Security-Policy-Report-Only`` next to the
    enforced one, with the same nonce: how a stricter policy is tried out.
``json_policy=JSON_POLICY``
    The profile for JSON responses (``application/json`` or ``application/*+json``,
    as :func:`headerware._headers.is_json` decides for every layer; ``text/x+json``
    is not JSON): ``default-src 'none'; frame-ancestors 'none'; base-uri 'none';
    form-action 'none'``, no nonce and no report-only policy (a JSON document runs
    nothing; it also earns the Observatory's top CSP result). ``None`` gives JSON
    responses the document policies.
``nonce_directives=("script-src", "style-src")``
    Where the request nonce goes (also ``script-src-elem``/``style-src-elem``;
    a nonce on ``script-src`` also reaches a ``script-src-elem`` in the policy).
    ``()`` turns nonces off; the header is then static.
``allow_unsafe=False``
    Unsafe script sources (``'unsafe-inline'``, ``'unsafe-eval'``, ``data:``,
    ``*``, ``http:``, ``https:``) are a start-up error. ``True`` accepts them all,
    a list (``["'unsafe-eval'"]``) only those named -- the exception stays visible.
``upgrade_insecure_requests=True``
    Adds ``upgrade-insecure-requests`` to the enforced document policy on HTTPS
    requests only: there it fixes stray ``http://`` subresources; on a plain-HTTP
    development server it would break every subresource.
``report_uri=None``, ``report_to=None``, ``report_group="csp-endpoint"``
    Where browsers send violation reports: ``report-uri <url>`` (every browser)
    and ``report-to <group>`` with a ``Reporting-Endpoints: <group>="<url>"``
    header (the Reporting API) on the responses that carry the policy. Added to
    every policy the layer sends -- ``report-to`` and ``Reporting-Endpoints`` on
    HTTPS responses only: the Reporting API works only in secure contexts, and a
    browser that sees ``report-to`` ignores ``report-uri``, so on plain HTTP it
    would swallow every report (checked in Chromium).
``report_path=None``
    Turns on the built-in receiver at this path (e.g. ``"/_headerware/csp-report"``)
    and, when neither ``report_uri`` nor ``report_to`` is given, points both at it.
    It answers ``POST`` with ``application/csp-report`` or
    ``application/reports+json``: 204 after logging each violation as the security
    event ``csp_violation`` (``document_uri``, ``blocked_uri``,
    ``violated_directive``, ``disposition``, ``source_file``, ``line_number``,
    ``column_number``, ``status_code``, ``sample``, ``report_format``; URLs without
    their query string or fragment, which may hold tokens; every string truncated).
    Another method gets 405, another type 415, no Content-Length 411, a body over
    ``report_max_bytes`` 413 (not read), malformed JSON or an unexpected shape 400,
    each logged at INFO as ``csp_report_refused``. At most 100 reports of one body
    are logged. Off by default: an open endpoint that writes logs is opt-in.
``report_max_bytes=65536``
    The body cap of the receiver; real reports are a few KiB.
``override_app_policy=False``
    When the application set its own ``Content-Security-Policy`` (or the
    report-only header), it is kept and the layer's is not added: the app knows
    that page (its own nonces, hashes and hosts), and adding a second, unrelated
    policy would break it. ``True`` replaces the application's policy.
``report_only=False``
    Sends ``policy`` (and ``json_policy``) as ``Content-Security-Policy-Report-Only``:
    browsers report what the policy would block and block nothing. Cannot be
    combined with ``report_only_policy``.

Every configuration mistake is an :class:`~headerware.options.OptionError`
naming the option (``policy``, ``report_path``, ...), the value and the fix.
"""

from __future__ import annotations

import json
import logging
from base64 import b64encode
from collections.abc import Iterable, Mapping
from os import urandom
from typing import TYPE_CHECKING, Any, ClassVar

from werkzeug.http import parse_options_header

from .._headers import HeaderList, is_json, is_safe_value, is_token
from .._log import security_event
from ..core.layer import Layer, Response
from ..csp_policy import DEFAULT_POLICY, JSON_POLICY, Policy
from ..options import OptionError, boolean

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

    from ..core.context import Context
    from ..core.layer import ResponseHead

__all__ = ["NONCE_ENVIRON_KEY", "ContentSecurityPolicy", "csp_nonce"]

#: The published (environ) key holding the request's CSP nonce (a base64 ``str``).
NONCE_ENVIRON_KEY = "headerware.csp.nonce"

_CSP = "Content-Security-Policy"
_CSP_RO = "Content-Security-Policy-Report-Only"
_REPORT_TYPES = frozenset({"application/csp-report", "application/reports+json"})
_MAX_LOGGED_REPORTS = 100
_URL_LIMIT = 256
_TEXT_LIMIT = 128
_SAMPLE_LIMIT = 40
# (field logged, csp-report key, reports+json body key, limit, is_url)
_REPORT_FIELDS: tuple[tuple[str, str, str, int, bool], ...] = (
    ("document_uri", "document-uri", "documentURL", _URL_LIMIT, True),
    ("blocked_uri", "blocked-uri", "blockedURL", _URL_LIMIT, True),
    ("violated_directive", "effective-directive", "effectiveDirective", _TEXT_LIMIT, False),
    ("disposition", "disposition", "disposition", 16, False),
    ("source_file", "source-file", "sourceFile", _URL_LIMIT, True),
    ("sample", "script-sample", "sample", _SAMPLE_LIMIT, False),
)
_NUMBER_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("line_number", "line-number", "lineNumber"),
    ("column_number", "column-number", "columnNumber"),
    ("status_code", "status-code", "statusCode"),
)

#: The headers of one response profile: (header name, policy parts around the nonce).
_Headers = tuple[tuple[str, tuple[str, ...]], ...]
#: A policy option as given: directives, a built Policy, or None.
PolicySource = Mapping[str, Any] | Policy | None


def csp_nonce(environ: WSGIEnvironment | Mapping[str, Any], *, default: str | None = None) -> str:
    """The CSP nonce of the current request, for ``<script nonce="...">``.

    Raises ``LookupError`` when there is none (the app is not wrapped by the CSP
    layer, or nonces are off), unless ``default`` is given.
    """
    nonce = environ.get(NONCE_ENVIRON_KEY)
    if isinstance(nonce, str):
        return nonce
    if default is not None:
        return default
    raise LookupError(
        f"no CSP nonce for this request ({NONCE_ENVIRON_KEY!r} is not in the environ): "
        "wrap the WSGI app in headerware's ContentSecurityPolicy (with nonce_directives "
        "not empty), or call csp_nonce(environ, default='') to render without one"
    )


def new_nonce() -> str:
    """A fresh nonce: 128 bits from ``os.urandom``, base64 (24 characters)."""
    return b64encode(urandom(16)).decode("ascii")


# -- option validators -----------------------------------------------------------------


def _url(option: str, value: object) -> str:
    """A URL or path that can stand in a directive and a quoted header parameter."""
    if not isinstance(value, str) or not value:
        raise OptionError(option, value, f"{value!r} is not a URL or path", "e.g. '/csp-report'")
    if any(c in value for c in ' \t;,"\\') or not value.isascii() or not value.isprintable():
        raise OptionError(
            option,
            value,
            f"{value!r} contains whitespace, ';', ',', a quote, a backslash or a "
            "non-ASCII/control character",
            "percent-encode it",
        )
    return value


def _report_path(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("/"):
        raise OptionError(
            "report_path",
            value,
            f"{value!r} must be a path starting with '/'",
            "e.g. '/_headerware/csp-report'",
        )
    return _url("report_path", value)


def _report_max_bytes(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
        raise OptionError(
            "report_max_bytes",
            value,
            f"{value!r} is too small for a report",
            "use at least 1024 (the default 65536 fits every real report)",
        )
    return value


def _report_group(value: object) -> str:
    if not isinstance(value, str) or not is_token(value) or not value.isascii():
        raise OptionError(
            "report_group", value, f"{value!r} is not an endpoint name", "e.g. 'csp-endpoint'"
        )
    Policy({"report-to": [value]}, option="report_group")  # the directive's own grammar
    return value


def _allow_unsafe(value: object) -> bool | tuple[str, ...]:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise OptionError(
            "allow_unsafe",
            value,
            f"{value!r} must be true or a list of sources",
            f"write allow_unsafe=[{value!r}]",
        )
    return tuple(value)


def _directives(
    option: str, source: object, reporting: Mapping[str, list[str]]
) -> Mapping[str, Any]:
    """The directives of one policy option, checked for what the layer adds itself."""
    if not isinstance(source, Mapping):
        raise OptionError(
            option,
            source,
            f"expected a mapping of directives or a Policy, got {type(source).__name__}",
            "e.g. {'default-src': [\"'none'\"]}",
        )
    names = {str(name).strip().lower() for name in source}
    for name in reporting:
        if name in names:
            raise OptionError(
                option,
                source,
                f"sets {name} itself and the layer's report_uri/report_to/report_path also does",
                "configure reporting in one place",
            )
    for name, value in source.items():
        values = value.split() if isinstance(value, str) else value
        if isinstance(values, list | tuple) and any(
            isinstance(v, str) and v.lower().startswith("'nonce-") for v in values
        ):
            raise OptionError(
                option,
                source,
                f"{name}: a fixed nonce is the same on every response and protects nothing",
                "remove it; the layer adds a fresh one per request (nonce_directives)",
            )
    return source


# -- the layer -------------------------------------------------------------------------


class ContentSecurityPolicy(Layer):
    """Sends a strict CSP with a fresh nonce per request; optional report receiver."""

    name: ClassVar[str] = "csp"

    def __init__(
        self,
        app: WSGIApplication | None = None,
        *,
        # Strict by default: default-src 'none', nonce'd scripts and styles.
        policy: PolicySource = DEFAULT_POLICY,
        # Nothing extra unless asked: a second policy is a roll-out tool.
        report_only_policy: PolicySource = None,
        # JSON runs nothing, so it gets the narrowest policy and no nonce.
        json_policy: PolicySource = JSON_POLICY,
        # Inline scripts and styles are the two places nonces are used.
        nonce_directives: Iterable[str] = ("script-src", "style-src"),
        # Unsafe script sources fail at start-up unless accepted by name.
        allow_unsafe: bool | Iterable[str] = False,
        # Only on HTTPS: on plain HTTP it would break every subresource.
        upgrade_insecure_requests: bool = True,
        report_uri: str | None = None,
        report_to: str | None = None,
        report_group: str = "csp-endpoint",
        # An endpoint that writes logs is opt-in.
        report_path: str | None = None,
        # Real reports are a few KiB; anything larger is refused unread.
        report_max_bytes: int = 64 * 1024,
        # The app's own policy knows its page; keep it.
        override_app_policy: bool = False,
        report_only: bool = False,
    ) -> None:
        super().__init__(app)
        if isinstance(nonce_directives, str):
            nonce_directives = (nonce_directives,)
        self.nonce_directives = tuple(nonce_directives)
        self.allow_unsafe = _allow_unsafe(allow_unsafe)
        self.upgrade_insecure_requests = boolean(
            "upgrade_insecure_requests", upgrade_insecure_requests
        )
        self.override_app_policy = boolean("override_app_policy", override_app_policy)
        self.report_only = boolean("report_only", report_only)
        if policy is None and report_only_policy is None:
            raise OptionError(
                "policy",
                None,
                "both policy and report_only_policy are none, so the layer would send nothing",
                "give a policy or remove the layer",
            )
        if self.report_only and report_only_policy is not None:
            raise OptionError(
                "report_only",
                True,
                "report_only=true already sends `policy` as the report-only header",
                "drop report_only_policy, or set report_only=false to enforce `policy` and "
                "try report_only_policy next to it",
            )
        self._setup_reporting(report_uri, report_to, report_group, report_path, report_max_bytes)
        self._build_profiles(policy, report_only_policy, json_policy)

    def _setup_reporting(
        self,
        report_uri: object,
        report_to: object,
        report_group: object,
        report_path: object,
        report_max_bytes: object,
    ) -> None:
        self.report_path = _report_path(report_path)
        if self.report_path is not None and report_uri is None and report_to is None:
            report_uri = report_to = self.report_path
        self.report_max_bytes = _report_max_bytes(report_max_bytes)
        self.report_uri = None if report_uri is None else _url("report_uri", report_uri)
        self.report_to = None if report_to is None else _url("report_to", report_to)
        self.report_group = _report_group(report_group)
        # report-to goes on HTTPS responses only: the Reporting API works only in
        # secure contexts, and browsers ignore report-uri when report-to is present,
        # so on plain HTTP it would swallow every report.
        self._reporting: dict[str, list[str]] = {}
        if self.report_uri is not None:
            self._reporting["report-uri"] = [self.report_uri]
        self._secure_reporting = dict(self._reporting)
        self._endpoint: str | None = None
        if self.report_to is not None:
            self._secure_reporting["report-to"] = [self.report_group]
            self._endpoint = f'{self.report_group}="{self.report_to}"'
            if not is_safe_value(self._endpoint):
                raise OptionError("report_to", self.report_to, "cannot be sent in a header")

    def _policy(
        self, option: str, source: Mapping[str, Any] | Policy, *, nonces: bool, secure: bool
    ) -> Policy:
        """One policy option built for one scheme, with the layer's reporting added."""
        allow: bool | Iterable[str] = self.allow_unsafe
        if isinstance(source, Policy):
            allow, source = source.allow_unsafe, source.directives
        reporting = self._secure_reporting if secure else self._reporting
        directives: dict[str, Any] = {**_directives(option, source, self._secure_reporting)}
        directives.update(reporting)
        upgrade = self.upgrade_insecure_requests and not self.report_only
        if option == "policy" and secure and upgrade:
            directives.setdefault("upgrade-insecure-requests", True)
        built = Policy(
            directives,
            allow_unsafe=allow,
            nonce_directives=self.nonce_directives if nonces else (),
            option=option,
        )
        if not is_safe_value("nonce".join(built.parts)):
            raise OptionError(option, source, "the policy cannot be sent in a header")
        return built

    def _build_profiles(
        self, policy: PolicySource, report_only_policy: PolicySource, json_policy: PolicySource
    ) -> None:
        """Render the headers of the four profiles: (JSON response?, secure request?)."""
        enforced = _CSP_RO if self.report_only else _CSP

        def build(option: str, source: PolicySource, secure: bool) -> Policy | None:
            if source is None:
                return None
            return self._policy(option, source, nonces=option != "json_policy", secure=secure)

        self._profiles: dict[tuple[bool, bool], _Headers] = {}
        for secure in (False, True):
            main = build("policy", policy, secure)
            trial = build("report_only_policy", report_only_policy, secure)
            as_json = build("json_policy", json_policy, secure)
            document = _headers((enforced, main), (_CSP_RO, trial))
            self._profiles[False, secure] = document
            self._profiles[True, secure] = (
                document if as_json is None else _headers((enforced, as_json))
            )
        # The public attributes hold the HTTPS variants (the complete policies).
        self.policy, self.report_only_policy, self.json_policy = main, trial, as_json
        self._needs_nonce = any(len(parts) > 1 for _, parts in self._profiles[False, False])
        self.handles_request = self._needs_nonce or self.report_path is not None

    def describe(self) -> dict[str, Any]:
        """The effective options; ``{nonce}`` marks where the request nonce goes."""

        def shown(policy: Policy | None) -> str | None:
            return None if policy is None else policy.render("{nonce}")

        return {
            "policy": shown(self.policy),
            "report_only_policy": shown(self.report_only_policy),
            "json_policy": shown(self.json_policy),
            "nonce_directives": list(self.nonce_directives),
            "allow_unsafe": (
                self.allow_unsafe
                if isinstance(self.allow_unsafe, bool)
                else list(self.allow_unsafe)
            ),
            "upgrade_insecure_requests": self.upgrade_insecure_requests,
            "report_uri": self.report_uri,
            "report_to": self.report_to,
            "report_group": self.report_group,
            "report_path": self.report_path,
            "report_max_bytes": self.report_max_bytes,
            "override_app_policy": self.override_app_policy,
            "report_only": self.report_only,
        }

    # -- request: the nonce, the report receiver -----------------------------------

    def on_request(self, ctx: Context) -> Response | None:
        if self._needs_nonce:
            nonce = new_nonce()
            ctx.state["csp.nonce"] = nonce
            ctx.publish(NONCE_ENVIRON_KEY, nonce)
        if self.report_path is not None and ctx.path == self.report_path:
            return self._receive(ctx)
        return None

    # -- response: the profile's policies ------------------------------------------

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        secure = ctx.is_secure
        headers = self._profiles[is_json(response.content_type), secure]
        if self.override_app_policy:
            for name, _ in headers:
                response.remove(name)
        else:  # the app's own policy knows its page: keep it, add only what it lacks
            headers = tuple(item for item in headers if not response.has(item[0].lower()))
            if not headers:
                return
        nonce = ctx.state.get("csp.nonce")
        if nonce is None and self._needs_nonce:
            nonce = new_nonce()  # on_request did not run (an outer layer answered)
        for name, parts in headers:
            response.add(name, (nonce or "").join(parts))
        if secure and self._endpoint is not None:
            self._add_endpoint(response, self._endpoint)

    def _add_endpoint(self, response: ResponseHead, endpoint: str) -> None:
        """Add our group to Reporting-Endpoints unless the app defines it already."""
        current = response.get("reporting-endpoints")
        if current is None:
            response.add("Reporting-Endpoints", endpoint)
            return
        groups = {member.split("=", 1)[0].strip() for member in current.split(",")}
        if self.report_group not in groups:
            response.set("Reporting-Endpoints", f"{current}, {endpoint}")

    # -- the report receiver ------------------------------------------------------

    def _refuse(self, status: str, reason: str, headers: HeaderList | None = None) -> Response:
        security_event(
            "csp_report_refused", level=logging.INFO, status=int(status[:3]), reason=reason
        )
        return Response.text(status, reason, headers)

    def _receive(self, ctx: Context) -> Response:
        if ctx.method != "POST":
            return self._refuse(
                "405 Method Not Allowed", "CSP reports are sent with POST", [("Allow", "POST")]
            )
        mimetype = parse_options_header(ctx.header("content-type") or "")[0].lower()
        if mimetype not in _REPORT_TYPES:
            return self._refuse(
                "415 Unsupported Media Type",
                "expected application/csp-report or application/reports+json",
            )
        try:
            length = int(ctx.header("content-length") or "")
        except ValueError:
            return self._refuse("411 Length Required", "a Content-Length is required")
        if length < 0:
            return self._refuse("400 Bad Request", "invalid Content-Length")
        if length > self.report_max_bytes:
            return self._refuse(
                "413 Content Too Large", f"a report may be at most {self.report_max_bytes} bytes"
            )
        try:
            body = ctx.read_body(self.report_max_bytes)
        except Exception:  # a client that went away: nothing to log but the refusal
            return self._refuse("400 Bad Request", "the report body could not be read")
        if body is None or len(body) != length:
            return self._refuse("400 Bad Request", "the report body is shorter than announced")
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            return self._refuse("400 Bad Request", "the report is not valid JSON")
        reports = _extract_reports(payload, mimetype)
        if reports is None:
            return self._refuse("400 Bad Request", "the report does not have the expected shape")
        report_format = mimetype.rpartition("/")[2]
        for report in reports[:_MAX_LOGGED_REPORTS]:
            security_event("csp_violation", report_format=report_format, **report)
        return Response.empty("204 No Content")


def _headers(*pairs: tuple[str, Policy | None]) -> _Headers:
    """``(header, policy parts)`` for each policy that is set."""
    return tuple((name, policy.parts) for name, policy in pairs if policy is not None)


def _extract_reports(payload: object, mimetype: str) -> list[dict[str, Any]] | None:
    """The logged fields of each CSP violation in ``payload``; ``None`` for a bad shape."""
    if mimetype == "application/csp-report":
        if not isinstance(payload, dict) or not isinstance(payload.get("csp-report"), dict):
            return None
        body = payload["csp-report"]
        fields = _fields(body, 1)
        if "violated_directive" not in fields and isinstance(body.get("violated-directive"), str):
            fields["violated_directive"] = _clip(body["violated-directive"], _TEXT_LIMIT)
        return [fields]
    if not isinstance(payload, list):
        return None
    reports: list[dict[str, Any]] = []
    for item in payload:
        if not isinstance(item, dict):
            return None
        if item.get("type") != "csp-violation":
            continue  # other report types (deprecation, ...) are not ours to log
        body = item.get("body")
        if not isinstance(body, dict):
            return None
        reports.append(_fields(body, 2))
    return reports


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[:limit] + "..."


def _fields(body: dict[str, Any], column: int) -> dict[str, Any]:
    """Pick, strip and clip the useful fields; ``column`` 1 = csp-report, 2 = reports+json."""
    fields: dict[str, Any] = {}
    for field, level2_key, json_key, limit, is_url in _REPORT_FIELDS:
        value = body.get(level2_key if column == 1 else json_key)
        if isinstance(value, str):
            if is_url:
                value = value.partition("#")[0].partition("?")[0]
            fields[field] = _clip(value, limit)
    for field, level2_key, json_key in _NUMBER_FIELDS:
        number = body.get(level2_key if column == 1 else json_key)
        if isinstance(number, int) and not isinstance(number, bool):
            fields[field] = number
    return fields
