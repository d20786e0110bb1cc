"""Content-Security-Policy: strict policies, per-request nonces, reporting.

:class:`ContentSecurityPolicy` (config name ``"csp"``) sends a validated policy
(see :mod:`headerware.csp_policy` for the builder and its checks) on every
response, with a fresh nonce per request::

    app = ContentSecurityPolicy(app)                       # the strict default
    app = ContentSecurityPolicy(app, policy={**DEFAULT_POLICY,
                                             "img-src": ["'self'", "data:"]})

The nonce
    ``os.urandom(16)`` (128 bits), base64, new for every request (drawn 64 at a
    time from one ``os.urandom`` call; a forked worker never reuses them), added as
    ``'nonce-...'`` to each directive in ``nonce_directives`` -- also when the
    directive is only inherited from ``default-src``: then it is written out from
    ``default-src``'s sources plus the nonce, without ``'none'``. An explicit
    ``'none'`` (``script-src 'none'``) is left alone. The application reads it from
    the environ key ``headerware.csp.nonce`` or with :func:`csp_nonce` (Flask:
    ``csp_nonce(request.environ)``, Django: ``csp_nonce(request.META)``) and writes
    it into ``<script nonce="...">``. :func:`csp_nonce` raises ``LookupError``
    when no nonce was made for the request (headerware not wrapping the app, or no
    nonce configured), because a page rendered with an empty nonce would fail
    silently in the browser; pass ``default=""`` to opt out of the error.

Performance
    Every header value is rendered at construction. With a nonce, the policy is
    precomputed as the parts around the nonce, and the request only pays for
    a nonce taken from the pool + one ``str.join`` and one pass over the response
    headers.

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
    The profile for responses whose Content-Type is ``application/json`` or
    ``*/*+json``: ``default-src 'none'; frame-ancestors 'none'; base-uri 'none';
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
"""

from __future__ import annotations

import json
import logging
import os
from binascii import b2a_base64
from collections import deque
from collections.abc import Iterable, Mapping
from os import urandom
from typing import TYPE_CHECKING, Any, ClassVar

from werkzeug.http import parse_options_header

from .._headers import HeaderList, check_header
from .._log import security_event
from ..csp_policy import DEFAULT_POLICY, JSON_POLICY, Policy
from ..engine import Context, Layer, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

__all__ = ["NONCE_ENVIRON_KEY", "ContentSecurityPolicy", "csp_nonce"]

#: The environ key holding the request's CSP nonce (a base64 ``str``).
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
#: (header name, policy parts around the nonce) for each header of one response kind.
_Entries = tuple[tuple[str, tuple[str, ...]], ...]
_NUMBER_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("line_number", "line-number", "lineNumber"),
    ("column_number", "column-number", "columnNumber"),
    ("status_code", "status-code", "statusCode"),
)


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


#: Nonces made ahead, 64 at a time from one ``os.urandom`` call (one system call
#: instead of one per request). ``deque.pop`` is atomic, so two threads never get
#: the same nonce; a forked worker starts with an empty pool, so it never repeats
#: one of its parent's or siblings'.
_NONCE_BATCH = 64
_NONCE_POOL: deque[str] = deque()
if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_NONCE_POOL.clear)


#: Each nonce is encoded from 18 bytes, 16 random and 2 zero: 18 bytes are exactly 24
#: base64 characters, so one ``b2a_base64`` call encodes the whole batch, and the 16
#: bytes' own encoding is the first 22 characters plus ``==`` (what the zero bytes
#: give, ``AA``, is overwritten). ~60 ns a nonce instead of ~200.
_NONCE_STRIDE = 18
_NONCE_ZEROS = bytes(_NONCE_BATCH + 1)
_NONCE_PADDING = b"=" * (_NONCE_BATCH + 1)
_NONCE_SLICES = tuple(slice(start, start + 24) for start in range(0, 24 * (_NONCE_BATCH + 1), 24))


def _refill() -> str:
    """Fill the pool and return one nonce more (16 random bytes each, base64)."""
    raw = bytearray(urandom(_NONCE_STRIDE * (_NONCE_BATCH + 1)))
    raw[16::_NONCE_STRIDE] = _NONCE_ZEROS
    raw[17::_NONCE_STRIDE] = _NONCE_ZEROS
    text = bytearray(b2a_base64(raw, newline=False))
    text[22::24] = _NONCE_PADDING
    text[23::24] = _NONCE_PADDING
    nonces = list(map(text.decode("ascii").__getitem__, _NONCE_SLICES))
    first = nonces.pop()
    _NONCE_POOL.extend(nonces)
    return first


def _new_nonce() -> str:
    """A fresh nonce: 128 bits from ``os.urandom``, base64; never handed out twice."""
    try:
        return _NONCE_POOL.pop()
    except IndexError:
        return _refill()


def _is_json(content_type: str) -> bool:
    mimetype = content_type.partition(";")[0].strip().lower()
    return mimetype == "application/json" or mimetype.endswith("+json")


#: Response header names by spelling -> 1 Content-Type, 2 the CSP header, 3 the
#: report-only header, 0 anything else: one dict lookup per header on the hot path.
#: Bounded: cleared when full.
_NAME_KINDS: dict[str, int] = {}
_NAME_KINDS_SIZE = 1024
_KIND_BY_LOWER = {"content-type": 1, _CSP.lower(): 2, _CSP_RO.lower(): 3}


def _name_kind(name: str) -> int:
    kind = _KIND_BY_LOWER.get(name.lower(), 0)
    if len(_NAME_KINDS) >= _NAME_KINDS_SIZE:
        _NAME_KINDS.clear()
    _NAME_KINDS[name] = kind
    return kind


#: Content-Type values -> JSON or not, remembered (apps send a handful). Bounded.
_JSON_TYPES: dict[str, bool] = {}
_JSON_TYPES_SIZE = 256


def _json_type(content_type: str) -> bool:
    is_json = "json" in content_type.lower() and _is_json(content_type)
    if len(content_type) <= 200:
        if len(_JSON_TYPES) >= _JSON_TYPES_SIZE:
            _JSON_TYPES.clear()
        _JSON_TYPES[content_type] = is_json
    return is_json


def _check_url(value: object, option: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{option}: expected a URL or path string, got {value!r}")
    if any(c in value for c in ' \t;,"\\') or not value.isascii() or not value.isprintable():
        raise ValueError(
            f"{option}: {value!r} contains whitespace, ';', ',', a quote, a backslash or "
            "a non-ASCII/control character; percent-encode it"
        )
    return value


class ContentSecurityPolicy(Layer):
    """Sends a strict CSP with a fresh nonce per request; optional report receiver."""

    name: ClassVar[str] = "csp"

    def __init__(
        self,
        app: WSGIApplication | None = None,
        *,
        # Strict by default: default-src 'none', nonce'd scripts and styles.
        policy: Mapping[str, Any] | Policy | None = DEFAULT_POLICY,
        # Nothing extra unless asked: a second policy is a roll-out tool.
        report_only_policy: Mapping[str, Any] | Policy | None = None,
        # JSON runs nothing, so it gets the narrowest policy and no nonce.
        json_policy: Mapping[str, Any] | Policy | None = JSON_POLICY,
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
        self.allow_unsafe = allow_unsafe if isinstance(allow_unsafe, bool) else tuple(allow_unsafe)
        self.upgrade_insecure_requests = bool(upgrade_insecure_requests)
        self.override_app_policy = bool(override_app_policy)
        self.report_only = bool(report_only)
        if policy is None and report_only_policy is None:
            raise ValueError(
                "policy: both policy and report_only_policy are None, so the layer would "
                "send nothing; give a policy or remove the layer"
            )
        if report_only and report_only_policy is not None:
            raise ValueError(
                "report_only=True already sends `policy` as the report-only header; "
                "drop report_only_policy, or set report_only=False to enforce `policy` "
                "and try report_only_policy next to it"
            )
        if report_path is not None:
            if not isinstance(report_path, str) or not report_path.startswith("/"):
                raise ValueError(
                    f"report_path: {report_path!r} must be a path starting with '/', "
                    "e.g. '/_headerware/csp-report'"
                )
            _check_url(report_path, "report_path")
            if report_uri is None and report_to is None:
                report_uri = report_to = report_path
        if not isinstance(report_max_bytes, int) or report_max_bytes < 1024:
            raise ValueError(
                f"report_max_bytes: {report_max_bytes!r} is too small for a report; use at "
                "least 1024 (the default 65536 fits every real report)"
            )
        self.report_path = report_path
        self.report_max_bytes = report_max_bytes
        self.report_uri = None if report_uri is None else _check_url(report_uri, "report_uri")
        self.report_to = None if report_to is None else _check_url(report_to, "report_to")
        self.report_group = report_group
        if self.report_to is not None:
            Policy({"report-to": [report_group]}, option="report_group")
        # report-to goes on HTTPS responses only: the Reporting API works only in
        # secure contexts, and browsers ignore report-uri when report-to is present,
        # so on plain HTTP it would swallow every report.
        extra: dict[str, list[str]] = {}
        if self.report_uri is not None:
            extra["report-uri"] = [self.report_uri]
        secure_extra = dict(extra)
        if self.report_to is not None:
            secure_extra["report-to"] = [report_group]

        def build(
            source: Mapping[str, Any] | Policy,
            option: str,
            *,
            nonces: bool,
            secure: bool,
            upgrade: bool = False,
        ) -> Policy:
            allow: bool | Iterable[str]
            if isinstance(source, Policy):
                allow = source.allow_unsafe
                source = source.directives
            else:
                allow = self.allow_unsafe
            if not isinstance(source, Mapping):
                raise ValueError(
                    f"{option}: expected a mapping of directives or a Policy, got "
                    f"{type(source).__name__}"
                )
            names = {str(name).strip().lower() for name in source}
            for name in secure_extra:
                if name in names:
                    raise ValueError(
                        f"{option}: sets {name} itself and the layer's report_uri/report_to/"
                        f"report_path also does; configure reporting in one place"
                    )
            for name, value in source.items():
                values = value.split() if isinstance(value, str) else value
                if isinstance(values, (list, tuple)) and any(
                    isinstance(v, str) and v.lower().startswith("'nonce-") for v in values
                ):
                    raise ValueError(
                        f"{option}[{name!r}]: a fixed nonce is the same on every response "
                        "and protects nothing; remove it, the layer adds a fresh one per "
                        "request (nonce_directives)"
                    )
            merged: dict[str, Any] = {**source, **(secure_extra if secure else extra)}
            if upgrade and "upgrade-insecure-requests" not in names:
                merged["upgrade-insecure-requests"] = True
            return Policy(
                merged,
                allow_unsafe=allow,
                nonce_directives=self.nonce_directives if nonces else (),
                option=option,
            )

        enforced_name = _CSP_RO if self.report_only else _CSP
        upgrade = self.upgrade_insecure_requests and not self.report_only
        # The public attributes hold the HTTPS variants (the complete policies).
        self.policy: Policy | None = None
        self.report_only_policy: Policy | None = None
        self.json_policy: Policy | None = None
        plain: list[tuple[str, tuple[str, ...]]] = []
        secure: list[tuple[str, tuple[str, ...]]] = []
        if policy is not None:
            plain_policy = build(policy, "policy", nonces=True, secure=False)
            plain.append((enforced_name, plain_policy.parts))
            self.policy = build(policy, "policy", nonces=True, secure=True, upgrade=upgrade)
            secure.append((enforced_name, self.policy.parts))
        if report_only_policy is not None:
            option = "report_only_policy"
            ro_plain = build(report_only_policy, option, nonces=True, secure=False)
            plain.append((_CSP_RO, ro_plain.parts))
            self.report_only_policy = build(report_only_policy, option, nonces=True, secure=True)
            secure.append((_CSP_RO, self.report_only_policy.parts))
        self._plain: _Entries = tuple(plain)
        self._secure: _Entries = tuple(secure)
        self._json_plain: _Entries | None = None
        self._json_secure: _Entries | None = None
        if json_policy is not None:
            json_plain = build(json_policy, "json_policy", nonces=False, secure=False)
            self.json_policy = build(json_policy, "json_policy", nonces=False, secure=True)
            self._json_plain = ((enforced_name, json_plain.parts),)
            self._json_secure = ((enforced_name, self.json_policy.parts),)
        for name, parts in (*plain, *secure):
            check_header(name, "nonce".join(parts), option="policy")
        self._needs_nonce = any(len(parts) > 1 for _, parts in plain)
        self._endpoint: str | None = None
        if self.report_to is not None:
            self._endpoint = f'{report_group}="{self.report_to}"'
            check_header("Reporting-Endpoints", self._endpoint, option="report_to")
        # The engine's shared scan: without any of these names, ``_on_clean``.
        watched = {_CSP.lower(), _CSP_RO.lower()}
        adds = {_CSP.lower(), _CSP_RO.lower()}
        if self._endpoint is not None:
            watched.add("reporting-endpoints")
            adds.add("reporting-endpoints")
        self._watched = frozenset(watched)
        self._adds = frozenset(adds)

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

    # -- request side -------------------------------------------------------------

    def on_request(self, ctx: Context) -> Response | None:
        if self._needs_nonce:
            try:
                nonce = _NONCE_POOL.pop()
            except IndexError:
                nonce = _refill()
            ctx.environ[NONCE_ENVIRON_KEY] = nonce
            ctx.state["csp"] = nonce
        if self.report_path is not None and ctx.path == self.report_path:
            return self._receive(ctx)
        return None

    # -- response side ------------------------------------------------------------

    def on_response(self, ctx: Context, status: str, headers: HeaderList) -> str | None:
        content_type = None
        app_csp = app_ro = False
        kinds = _NAME_KINDS
        for name, value in headers:
            kind = kinds.get(name)
            if kind is None:
                kind = _name_kind(name)
            if kind:
                if kind == 1:
                    content_type = value
                elif kind == 2:
                    app_csp = True
                else:
                    app_ro = True
        secure = ctx.environ.get("wsgi.url_scheme") == "https"
        entries = self._entries(secure, content_type)
        if app_csp or app_ro:
            if self.override_app_policy:
                names = {entry[0].lower() for entry in entries}
                headers[:] = [h for h in headers if h[0].lower() not in names]
            else:
                entries = tuple(
                    entry for entry in entries if not (app_csp if entry[0] == _CSP else app_ro)
                )
                if not entries:
                    return None
        nonce = ctx.state.get("csp") or ""
        if not nonce and self._needs_nonce:
            nonce = _new_nonce()  # only if on_request did not run for this request
        for name, parts in entries:
            headers.append((name, nonce.join(parts)))
        if secure and self._endpoint is not None:
            self._add_endpoint(headers)
        return None

    def _entries(self, secure: bool, content_type: str | None) -> _Entries:
        """The precomputed policy headers for this scheme and response type."""
        if content_type is not None and self._json_plain is not None:
            is_json = _JSON_TYPES.get(content_type)
            if is_json is None:
                is_json = _json_type(content_type)
            if is_json:
                entries = self._json_secure if secure else self._json_plain
                assert entries is not None
                return entries
        return self._secure if secure else self._plain

    def _on_clean(self, ctx: Context, headers: HeaderList, content_type: str | None) -> None:
        # The engine's scan found no CSP or Reporting-Endpoints header: the app set
        # no policy, so ours goes in as is.
        secure = ctx.environ.get("wsgi.url_scheme") == "https"
        entries = self._entries(secure, content_type)
        nonce = ctx.state.get("csp") or ""
        if not nonce and self._needs_nonce:
            nonce = _new_nonce()  # only if on_request did not run for this request
        for name, parts in entries:
            headers.append((name, nonce.join(parts)))
        if secure and self._endpoint is not None:
            headers.append(("Reporting-Endpoints", self._endpoint))

    def _add_endpoint(self, headers: HeaderList) -> None:
        endpoint = self._endpoint
        assert endpoint is not None
        for index, (name, value) in enumerate(headers):
            if name.lower() == "reporting-endpoints":
                members = {m.split("=", 1)[0].strip() for m in value.split(",")}
                if self.report_group not in members:
                    headers[index] = (name, f"{value}, {endpoint}")
                return
        headers.append(("Reporting-Endpoints", endpoint))

    # -- the report receiver ------------------------------------------------------

    def _refuse(self, status: str, reason: str, headers: HeaderList | None = None) -> Response:
        security_event(
            "csp_report_refused", level=logging.INFO, status=int(status[:3]), reason=reason
        )
        return Response.text(status, reason, headers)

    def _receive(self, ctx: Context) -> Response:
        environ = ctx.environ
        if ctx.method != "POST":
            return self._refuse(
                "405 Method Not Allowed", "CSP reports are sent with POST", [("Allow", "POST")]
            )
        mimetype = parse_options_header(environ.get("CONTENT_TYPE", ""))[0].lower()
        if mimetype not in _REPORT_TYPES:
            return self._refuse(
                "415 Unsupported Media Type",
                "expected application/csp-report or application/reports+json",
            )
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return self._refuse("411 Length Required", "a Content-Length is required")
        if length < 0:
            return self._refuse("400 Bad Request", "invalid Content-Length")
        if length > self.report_max_bytes:
            return self._refuse(
                "413 Content Too Large", f"a report may be at most {self.report_max_bytes} bytes"
            )
        try:
            body = environ["wsgi.input"].read(length) if length else b""
        except Exception:  # a client that went away: nothing to log but the refusal
            return self._refuse("400 Bad Request", "the report body could not be read")
        if not isinstance(body, bytes) or len(body) != length:
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
