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

Which responses get the nonce
    Only documents that can use it: ``text/html``, ``application/xhtml+xml``,
    ``image/svg+xml`` and responses without a Content-Type. Every other type
    (stylesheets, scripts, images, text, JSON when ``json_policy=None``) gets the
    same policies without a nonce, so a public static response never carries a
    per-request value. A ``304 Not Modified`` gets no nonce-bearing policy at all
    (the application's is removed too): a cache updates the stored headers from a
    304 (RFC 9111, 4.3.4) while the stored body keeps the nonce it was sent with.
    A response that leaves with a nonce policy and no ``Cache-Control`` of its own
    gets ``Cache-Control: private`` (the ``caching`` layer, when configured, decides
    the same way); an application's own ``Cache-Control`` is kept as it is.

Performance
    Every header value is rendered at construction, for each profile (nonce
    document, other type or JSON; plain HTTP or HTTPS). With a nonce, the policy is
    precomputed as the parts around the nonce, and a request only pays for the
    nonce and one ``str.join``.

Options (keyword-only; defaults are the strict ones):

``policy=DEFAULT_POLICY``
    The enforced policy (every response that is not JSON):
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
    It answers ``POST`` reports with 204 after logging each violation as the
    security event ``csp_violation``, and refuses anything else with a 4xx
    (:mod:`headerware.csp_reports` documents both). Off by default: an open
    endpoint that writes logs is opt-in.
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
``describe()`` gives the options as written (the directives of each policy, without
what the layer adds: the nonce, reporting, ``upgrade-insecure-requests``).
"""

from __future__ import annotations

from base64 import b64encode
from collections.abc import Iterable, Mapping
from os import urandom
from typing import TYPE_CHECKING, Any, ClassVar

from .._headers import DOCUMENT, JSON, OTHER, content_kind, is_safe_value
from ..core.layer import Layer, Response
from ..csp_policy import (
    DEFAULT_POLICY,
    JSON_POLICY,
    Policy,
    check_allow_unsafe,
    check_layer_directives,
)
from ..csp_reports import (
    check_report_group,
    check_report_max_bytes,
    check_report_path,
    check_url,
    receive_report,
)
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
_UPGRADE = "upgrade-insecure-requests"
_CSP_NAMES = ("content-security-policy", "content-security-policy-report-only")
#: Profile kinds: a document that gets the nonce, any other type, JSON.

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
        self.allow_unsafe = check_allow_unsafe(allow_unsafe)
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
        self._added_upgrade = False
        self._build_profiles(policy, report_only_policy, json_policy)

    def _setup_reporting(
        self,
        report_uri: object,
        report_to: object,
        report_group: object,
        report_path: object,
        report_max_bytes: object,
    ) -> None:
        self.report_path = check_report_path(report_path)
        self._given_reporting = (report_uri, report_to)  # describe(): as written
        if self.report_path is not None and report_uri is None and report_to is None:
            report_uri = report_to = self.report_path
        self.report_max_bytes = check_report_max_bytes(report_max_bytes)
        self.report_uri = None if report_uri is None else check_url("report_uri", report_uri)
        self.report_to = None if report_to is None else check_url("report_to", report_to)
        self.report_group = check_report_group(report_group)
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
        directives: dict[str, Any] = {
            **check_layer_directives(option, source, self._secure_reporting)
        }
        directives.update(reporting)
        upgrade = self.upgrade_insecure_requests and not self.report_only
        names = {str(name).strip().lower() for name in directives}
        if option == "policy" and secure and upgrade and _UPGRADE not in names:
            directives[_UPGRADE] = True
            self._added_upgrade = True
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
        """Render the headers of each profile: (kind of response, secure request?)."""
        enforced = _CSP_RO if self.report_only else _CSP

        def build(option: str, source: PolicySource, secure: bool) -> Policy | None:
            if source is None:
                return None
            return self._policy(option, source, nonces=option != "json_policy", secure=secure)

        self._profiles: dict[tuple[str, bool], _Headers] = {}
        for secure in (False, True):
            main = build("policy", policy, secure)
            trial = build("report_only_policy", report_only_policy, secure)
            as_json = build("json_policy", json_policy, secure)
            document = _headers((enforced, main), (_CSP_RO, trial))
            other = _static((enforced, main), (_CSP_RO, trial))
            self._profiles[DOCUMENT, secure] = document
            self._profiles[OTHER, secure] = other
            self._profiles[JSON, secure] = (
                other if as_json is None else _headers((enforced, as_json))
            )
        # The public attributes hold the HTTPS variants (the complete policies).
        self.policy, self.report_only_policy, self.json_policy = main, trial, as_json
        self._needs_nonce = any(len(parts) > 1 for _, parts in self._profiles[DOCUMENT, False])
        self.handles_request = self._needs_nonce or self.report_path is not None
        added = {"report-uri", "report-to"}
        self._given = {
            "policy": _given(main, added | ({_UPGRADE} if self._added_upgrade else set())),
            "report_only_policy": _given(trial, added),
            "json_policy": _given(as_json, added),
        }

    def describe(self) -> dict[str, Any]:
        """The options as given: each policy's own directives, without what the layer
        adds (the nonce, reporting, ``upgrade-insecure-requests`` on HTTPS)."""
        report_uri, report_to = self._given_reporting
        return {
            **self._given,
            "nonce_directives": list(self.nonce_directives),
            "allow_unsafe": (
                self.allow_unsafe
                if isinstance(self.allow_unsafe, bool)
                else list(self.allow_unsafe)
            ),
            "upgrade_insecure_requests": self.upgrade_insecure_requests,
            "report_uri": report_uri,
            "report_to": report_to,
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
            return receive_report(ctx, self.report_max_bytes)
        return None

    # -- response: the profile's policies ------------------------------------------

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        secure = ctx.is_secure
        headers = self._profiles[content_kind(response.content_type), secure]
        if response.status_code == 304:
            # A cache updates the stored headers from a 304, but the stored body keeps
            # the nonce it was sent with: no nonce-bearing policy on a 304 (RFC 9111).
            response.remove_if(_nonce_free)
            headers = tuple(item for item in headers if len(item[1]) == 1)
        app_policy = response.has(_CSP_NAMES[0]) or response.has(_CSP_NAMES[1])
        if app_policy:
            if self.override_app_policy:
                for name, _ in headers:
                    response.remove(name)
            else:  # the app's own policy knows its page: keep it, add only what it lacks
                headers = tuple(item for item in headers if not response.has(item[0].lower()))
        nonce = None
        for name, parts in headers:
            if len(parts) == 1:
                response.add(name, parts[0])
                continue
            if nonce is None:
                # on_request did not run when an outer layer answered: a fresh one then.
                nonce = ctx.state.get("csp.nonce") or new_nonce()
            response.add(name, nonce.join(parts))
        if headers and secure and self._endpoint is not None:
            self._add_endpoint(response, self._endpoint)
        carries_nonce = nonce is not None or (
            app_policy
            and any("'nonce-" in v for name in _CSP_NAMES for v in response.get_all(name))
        )
        if carries_nonce and response.status_code != 304 and not response.has("cache-control"):
            response.set("Cache-Control", "private")  # a per-request value: no shared cache

    def _add_endpoint(self, response: ResponseHead, endpoint: str) -> None:
        """Add our group to Reporting-Endpoints unless the app defines it already."""
        current = response.get("reporting-endpoints")
        if current is None:
            response.add("Reporting-Endpoints", endpoint)
            return
        groups = {member.split("=", 1)[0].strip() for member in current.split(",")}
        if self.report_group not in groups:
            response.set("Reporting-Endpoints", f"{current}, {endpoint}")


def _headers(*pairs: tuple[str, Policy | None]) -> _Headers:
    """``(header, policy parts)`` for each policy that is set."""
    return tuple((name, policy.parts) for name, policy in pairs if policy is not None)


def _static(*pairs: tuple[str, Policy | None]) -> _Headers:
    """``(header, (policy without a nonce,))`` for each policy that is set."""
    return tuple((name, (policy.without_nonce,)) for name, policy in pairs if policy is not None)


def _nonce_free(name: str, value: str) -> bool:
    return "'nonce-" not in value or name.lower() not in _CSP_NAMES


def _given(policy: Policy | None, added: set[str]) -> dict[str, Any] | None:
    """A policy's directives as an option value, without those the layer added."""
    if policy is None:
        return None
    return {
        name: list(sources) if sources else True
        for name, sources in policy.directives.items()
        if name not in added
    }
