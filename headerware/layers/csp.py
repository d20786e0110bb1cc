"""Content-Security-Policy: strict policies, per-request nonces, reporting.

:class:`ContentSecurityPolicy` (config name ``"csp"``) sends a validated policy
(see :mod:`headerware.csp_policy` for the builder and its checks) on every
response, with a fresh nonce per request::

    app = ContentSecurityPolicy(app)                       # the strict default
    app = ContentSecurityPolicy(app, policy={**DEFAULT_POLICY,
                                             "img-src": ["'self'", "data:"]})

The nonce
    16 bytes from ``os.urandom``, base64, new for every request, added as
    ``'nonce-...'`` to each directive in ``nonce_directives`` (written out from
    ``default-src`` when only inherited; an explicit ``'none'`` is left alone),
    published under
    ``headerware.csp.nonce``; the app reads it with :func:`csp_nonce`
    (``csp_nonce(request.environ)``; Django: ``request.META``), which raises
    ``LookupError`` when there is none unless ``default=""`` is given.

View-level amendments
    A view adds sources to *this* response's policy with :func:`headerware.view.csp_amend`
    (``csp_amend(request.environ, "script-src", "https://cdn.example")``), checked like
    the configuration and stricter (an unsafe or wildcard source is a ``ValueError``
    in the view); amended headers are remembered; an app's own policy is not amended.

Which responses get the nonce
    Only documents that can use it (HTML, XHTML, SVG, no Content-Type); every other
    type gets the same policies without a nonce, so a public static response never
    carries a per-request value. A ``304 Not Modified`` gets no nonce-bearing policy at all
    (the application's is removed too): a cache updates the stored headers from a
    304 (RFC 9111, 4.3.4) while the stored body keeps the nonce it was sent with.
    A response that leaves with a nonce policy and no ``Cache-Control`` gets
    ``Cache-Control: private`` (as the ``caching`` layer decides); an app's own is kept.

Hashes for cacheable pages (``hash_inline=True``, opt-in)
    For a document whose body is already complete in memory (a list or tuple), the
    layer hashes each inline ``<script>``/``<style>`` block (sha256, base64) and
    adds the ``'sha256-…'`` sources to ``script-src``/``style-src`` of that
    response (:mod:`headerware.csp_hashes`); with ``nonce_directives=()`` such a
    page carries no per-request value and stays cacheable. Trade-off: a streamed
    body is never buffered, so it gets no hashes (its inline code needs the nonce).

Every header is rendered at construction per profile (document, other, JSON; HTTP
or HTTPS) as the parts around the nonce: a request pays for one ``str.join``.

Options (keyword-only; defaults are the strict ones):

``policy=DEFAULT_POLICY``
    The enforced policy (every response that is not JSON):
    ``default-src 'none'; script-src 'self' 'nonce-…'; style-src 'self'
    'nonce-…'; img-src 'self'; font-src 'self'; connect-src 'self';
    manifest-src 'self'; form-action 'self'; base-uri 'none';
    frame-ancestors 'none'; object-src 'none'``. This earns the top CSP result
    of Mozilla's HTTP Observatory (``default-src 'none'``, nonce'd scripts and
    styles, explicit object-src, base-uri, form-action, frame-ancestors).
    ``None`` sends no enforced policy (e.g. while rolling out a report-only one).
``report_only_policy=None``
    A second policy sent as ``Content-Security-Policy-Report-Only`` next to the
    enforced one, with the same nonce: how a stricter policy is tried out.
``json_policy=JSON_POLICY``
    The profile for JSON responses (:func:`headerware._headers.is_json`):
    ``default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action
    'none'``, no nonce, no report-only policy. ``None``: the document policies.
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
    requests only (on a plain-HTTP server it would break every subresource).
``report_uri=None``, ``report_to=None``, ``report_group="csp-endpoint"``
    Where browsers send violation reports: ``report-uri <url>`` and ``report-to
    <group>`` with ``Reporting-Endpoints: <group>="<url>"``, added to every policy
    the layer sends; ``report-to`` on HTTPS only (the Reporting API needs a secure
    context, and a browser that sees it ignores ``report-uri``).
``report_path=None``, ``report_max_bytes=65536``
    Turns on the built-in receiver at this path (e.g. ``"/_headerware/csp-report"``,
    off by default) and, without ``report_uri``/``report_to``, points both at it:
    204 for each ``POST`` report (at most ``report_max_bytes``), logged as
    ``csp_violation``; a 4xx for anything else (:mod:`headerware.csp_reports`).
``report_store="sqlite"``, ``report_db="headerware-csp.sqlite3"``, ``report_limits``
    Where the receiver keeps violations (``"sqlite"``, ``"log"``, ``"none"`` or a
    callable) and its bounds (:mod:`headerware.csp_store`); read them with
    ``headerware csp report`` and turn them into a policy with ``headerware csp suggest``.
``override_app_policy=False``
    The application's own ``Content-Security-Policy`` (or report-only header) is
    kept and the layer's is not added: the app knows that page (its nonces, hashes
    and hosts). ``True`` replaces the application's policy.
``report_only=False``
    Sends ``policy`` (and ``json_policy``) as ``Content-Security-Policy-Report-Only``:
    browsers report what the policy would block and block nothing. Cannot be
    combined with ``report_only_policy``.
``profile="production"``
    ``"development"``, for a developer's machine only: the werkzeug debugger and
    framework error pages run inline script without the nonce, and a traceback
    page is served at whatever URL failed, so no route rule can cover it. The
    profile is ``report_only=true`` (nothing is blocked, no ``'unsafe-inline'`` is
    added anywhere, the browser's console still lists what production would block)
    and every construction logs a WARNING that it must never be deployed.

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

from .._headers import DOCUMENT, JSON, OTHER, is_safe_value
from .._log import logger, security_event
from ..core.layer import Layer, Response
from ..csp_hashes import add_hashes
from ..csp_policy import (
    DEFAULT_POLICY,
    JSON_POLICY,
    Amendment,
    Policy,
    amend_policy,
    check_allow_unsafe,
    check_amendment,
    check_layer_directives,
    freeze_amendments,
)
from ..csp_reports import Reporting, add_endpoint, receive_report, report_body_limit
from ..csp_store import DEFAULT_DB, Collector, LogSink, Sink
from ..memo import Memo
from ..options import OptionError, boolean, choice
from ..view import CSP_AMEND_ENVIRON_KEY, NONCE_ENVIRON_KEY, csp_nonce

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from ..core.context import Context
    from ..core.layer import ResponseHead

__all__ = ["NONCE_ENVIRON_KEY", "ContentSecurityPolicy", "csp_nonce"]

_CSP = "Content-Security-Policy"
_CSP_RO = "Content-Security-Policy-Report-Only"
_UPGRADE = "upgrade-insecure-requests"
_CSP_NAMES = ("content-security-policy", "content-security-policy-report-only")
_CSP_NAME_SET = frozenset(_CSP_NAMES)
#: The headers of one response profile: (header name, policy parts around the nonce).
_Headers = tuple[tuple[str, tuple[str, ...]], ...]
#: The policies of one profile: (header name, policy, option, gets the nonce?).
_Sources = tuple[tuple[str, Policy, str, bool], ...]
_DEVELOPMENT_WARNING = (
    "csp: profile='development' sends the policy as Content-Security-Policy-Report-Only: "
    "browsers block NOTHING (inline script, any host). For the werkzeug debugger and "
    "framework error pages on a developer's machine only; never use it in production"
)
#: A profile (kind, secure?) and a response's amendments.
_AmendKey = tuple[str, bool, tuple[Amendment, ...]]
#: A policy option as given: directives, a built Policy, or None.
PolicySource = Mapping[str, Any] | Policy | None


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
        policy: PolicySource = DEFAULT_POLICY,  # default-src 'none', nonce'd scripts/styles
        report_only_policy: PolicySource = None,  # a roll-out tool: opt in
        json_policy: PolicySource = JSON_POLICY,  # JSON runs nothing: narrowest, no nonce
        nonce_directives: Iterable[str] = ("script-src", "style-src"),
        # Unsafe script sources fail at start-up unless accepted by name.
        allow_unsafe: bool | Iterable[str] = False,
        # Only on HTTPS: on plain HTTP it would break every subresource.
        upgrade_insecure_requests: bool = True,
        report_uri: str | None = None,
        report_to: str | None = None,
        report_group: str = "csp-endpoint",
        report_path: str | None = None,  # an endpoint that writes logs is opt-in
        report_max_bytes: int = 64 * 1024,  # real reports are a few KiB
        report_store: str | Sink = "sqlite",
        report_db: str = DEFAULT_DB,
        report_limits: Mapping[str, int | float] | None = None,
        hash_inline: bool = False,  # hashes of inline blocks in complete HTML bodies
        override_app_policy: bool = False,  # the app's own policy knows its page
        report_only: bool = False,
        # "development": report only, block nothing (debugger pages); never deploy it.
        profile: str = "production",
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
        self.hash_inline = boolean("hash_inline", hash_inline)
        self._collector = Collector(report_store, report_db, report_limits)
        self.profile = choice("profile", profile, ("production", "development"))
        self.report_only = boolean("report_only", report_only) or self.profile == "development"
        if self.profile == "development":
            logger.warning(_DEVELOPMENT_WARNING)
        if policy is None and report_only_policy is None:
            raise OptionError(
                "policy",
                None,
                "both policy and report_only_policy are none, so the layer would send nothing",
                "give a policy or remove the layer",
            )
        if self.report_only and report_only_policy is not None:
            raise OptionError(
                "report_only" if self.profile == "production" else "profile",
                True if self.profile == "production" else self.profile,
                "report_only=true already sends `policy` as the report-only header",
                "drop report_only_policy, or set report_only=false to enforce `policy` and "
                "try report_only_policy next to it",
            )
        self._rep = Reporting.from_options(
            report_uri, report_to, report_group, report_path, report_max_bytes
        )
        self.report_path, self.report_group = self._rep.path, self._rep.group
        self.request_is_async = self.report_path is not None  # only the receiver reads a body
        self._added_upgrade = False
        self._build_profiles(policy, report_only_policy, json_policy)

    def _policy(
        self, option: str, source: Mapping[str, Any] | Policy, *, nonces: bool, secure: bool
    ) -> Policy:
        """One policy option built for one scheme, with the layer's reporting added."""
        allow: bool | Iterable[str] = self.allow_unsafe
        if isinstance(source, Policy):
            allow, source = source.allow_unsafe, source.directives
        reporting = self._rep.secure if secure else self._rep.plain
        directives: dict[str, Any] = {**check_layer_directives(option, source, self._rep.secure)}
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

        self._sources: dict[tuple[str, bool], _Sources] = {}
        for secure in (False, True):
            main = build("policy", policy, secure)
            trial = build("report_only_policy", report_only_policy, secure)
            as_json = build("json_policy", json_policy, secure)
            pairs = _pairs((enforced, main, "policy"), (_CSP_RO, trial, "report_only_policy"))
            self._sources[DOCUMENT, secure] = tuple((*pair, True) for pair in pairs)
            self._sources[OTHER, secure] = tuple((*pair, False) for pair in pairs)
            as_json_pairs = _pairs((enforced, as_json, "json_policy"))
            self._sources[JSON, secure] = tuple((*p, False) for p in as_json_pairs or pairs)
        self._profiles = {key: _render(pol) for key, pol in self._sources.items()}
        self._amended: Memo[_AmendKey, _Headers | None] = Memo("csp.amend", self._amend, size=256)
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
        return {
            **self._given,
            "nonce_directives": list(self.nonce_directives),
            "allow_unsafe": (
                self.allow_unsafe
                if isinstance(self.allow_unsafe, bool)
                else list(self.allow_unsafe)
            ),
            "upgrade_insecure_requests": self.upgrade_insecure_requests,
            **self._rep.describe(),
            **self._collector.describe(),
            "hash_inline": self.hash_inline,
            "override_app_policy": self.override_app_policy,
            "report_only": self.report_only,
            "profile": self.profile,
        }

    # -- request: the nonce, the report receiver -----------------------------------

    def on_request(self, ctx: Context) -> Response | None:
        if self._needs_nonce:
            nonce = new_nonce()
            ctx.state["csp.nonce"] = nonce
            ctx.publish(NONCE_ENVIRON_KEY, nonce)
        if self.report_path is not None and ctx.path == self.report_path:
            return receive_report(ctx, self._rep.max_bytes, self._collector)
        return None

    async def on_request_async(self, ctx: Context) -> Response | None:
        """:meth:`on_request` under ASGI: a report's body is awaited first (the same
        limit), and a blocking store (SQLite, a callable) is written off the loop."""
        if self.report_path is None or ctx.path != self.report_path:
            return self.on_request(ctx)
        limit = report_body_limit(ctx, self._rep.max_bytes)
        if limit is None:
            return self.on_request(ctx)  # refused without reading the body
        await ctx.read_body_async(limit)
        sink = self._collector.sink
        if sink is None or isinstance(sink, LogSink):
            return self.on_request(ctx)
        try:
            from anyio import to_thread  # the 'asgi' extra (Starlette depends on it)
        except ImportError:  # pragma: no cover - a bare ASGI app without anyio
            return self.on_request(ctx)
        return await to_thread.run_sync(self.on_request, ctx)

    # -- response: the profile's policies ------------------------------------------

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        secure = ctx.is_secure
        kind = response.kind
        headers = self._profiles[kind, secure]
        amendments = ctx.published(CSP_AMEND_ENVIRON_KEY)
        if amendments:  # a view added sources to this response's policy
            headers = self._amended_headers(kind, secure, amendments) or headers
        not_modified = response.status.startswith("304")
        if not_modified:
            # A cache updates the stored headers from a 304, but the stored body keeps
            # the nonce it was sent with: no nonce-bearing policy on a 304 (RFC 9111).
            response.remove_if(_nonce_free)
            headers = tuple(item for item in headers if len(item[1]) == 1)
        app_policy = response.has_any(_CSP_NAME_SET)
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
        hashes = self.hash_inline and kind == DOCUMENT and not not_modified
        if hashes and headers and (self.override_app_policy or not app_policy):
            response.hold_body(add_hashes)
        if headers and secure and self._rep.endpoint is not None:
            add_endpoint(response, self.report_group, self._rep.endpoint)
        carries_nonce = nonce is not None or (
            app_policy
            and any("'nonce-" in v for name in _CSP_NAMES for v in response.get_all(name))
        )
        if carries_nonce and not not_modified:
            response.setdefault("Cache-Control", "private")  # per request: no shared cache

    def _amended_headers(self, kind: str, secure: bool, amendments: Any) -> _Headers | None:
        """This profile's headers with a view's amendments (None: keep the profile's)."""
        frozen = freeze_amendments(amendments)
        headers = None if frozen is None else self._amended((kind, secure, frozen))
        if headers is None:
            security_event("csp_amend_refused", layer=self.name, amendments=repr(amendments)[:200])
        return headers

    def _amend(self, key: _AmendKey) -> _Headers | None:
        kind, secure, given = key
        try:
            amendments = [check_amendment(name, sources) for name, sources in given]
            return _render(
                tuple(
                    (name, amend_policy(policy, amendments, option=option), option, nonced)
                    for name, policy, option, nonced in self._sources[kind, secure]
                )
            )
        except ValueError:  # refused, or not a valid policy any more: keep the configured one
            return None


def _pairs(*given: tuple[str, Policy | None, str]) -> tuple[tuple[str, Policy, str], ...]:
    """``(header, policy, option)`` for each policy that is set."""
    return tuple((name, policy, option) for name, policy, option in given if policy is not None)


def _render(sources: _Sources) -> _Headers:
    """The headers of a profile: the parts around the nonce, or the nonce-free policy."""
    return tuple(
        (name, p.parts if nonced else (p.without_nonce,)) for name, p, _, nonced in sources
    )


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
