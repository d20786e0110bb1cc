"""HTTPS redirect: answer plain-HTTP requests with a redirect to the same URL on HTTPS.

:class:`HTTPSRedirect` (config name ``https_redirect``) answers every request that
did not arrive over TLS (``ctx.is_secure``, i.e. the scheme the server computed;
put a proxy-trust layer in front when TLS ends at a proxy, this layer never reads
``X-Forwarded-Proto``) with a redirect to the same host (as the client named it),
mount prefix, path and query on ``https_port``::

    [https_redirect]
    status = 301
    exempt = ["/healthz", "/.well-known/acme-challenge/*"]

Where it runs
    Right after ``trusted_hosts`` in the canonical order (see
    :mod:`headerware.registry`): the Host is checked before a redirect to it is
    built, so a client-chosen Host gets the host check's 400, never a cacheable
    301 to a host of the client's choosing. The security headers layer is still
    outside it, so the redirect carries them (no HSTS: it is plain HTTP). The
    redirect used to be part of ``security_headers`` (``https_redirect=true``);
    those options now fail at start-up and point here.

Options (keyword-only):

``status=301``
    For GET and HEAD: 301, 302, 307 or 308. Other methods get the
    method-preserving equivalent (301 -> 308, 302 -> 307), so a POST is never
    silently turned into a GET.
``exempt=()``
    Path patterns (:mod:`headerware.paths`: ``/x`` exact, ``/x/*`` for ``/x`` and
    everything below it, ``/x/`` for the subtree without ``/x``) answered over HTTP
    anyway, e.g. a load balancer's ``/healthz`` or ``/.well-known/acme-challenge/*``.
    An exemption is laxer, so it applies only when the raw and the resolved path
    both match (``/.well-known/a/../../admin`` is redirected).
``https_port=443``
    The port of the Location; the request's HTTP port is dropped.
``report_only=False``
    Log the redirect it would have sent (security event ``https_redirect``) and
    serve the request over HTTP.

A Host header that is not a valid host (CR/LF, a path, userinfo, a space) gets a
400 and the event ``https_redirect_bad_host`` instead of a redirect, also when no
host check runs before this layer; its body ("invalid Host header", never the
host) is negotiated like every layer's refusal
(:func:`headerware.responses.error_response`: JSON by default, HTML or text when
Accept prefers them). Every bad option fails at construction with an
:class:`~headerware.options.OptionError` naming the option.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from .._log import security_event
from ..core.layer import Layer, Response
from ..options import OptionError, boolean, choice
from ..paths import PathSet
from ..responses import error_response

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from ..core.context import Context

__all__ = ["HTTPSRedirect"]

_HOST = re.compile(r"([A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?\Z")
#: Configured status -> (status for GET/HEAD, method-preserving status for the rest).
_STATUS = {
    301: ("301 Moved Permanently", "308 Permanent Redirect"),
    302: ("302 Found", "307 Temporary Redirect"),
    307: ("307 Temporary Redirect", "307 Temporary Redirect"),
    308: ("308 Permanent Redirect", "308 Permanent Redirect"),
}
#: Characters of a decoded path left as they are in a Location (WHATWG path segment).
_PATH_SAFE = "/!$&'()*+,;=:@-._~"
#: The raw query string is already percent-encoded by the client: keep ``%``.
_QUERY_SAFE = "/!$&'()*+,;=:@-._~?%"


def _port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise OptionError("https_port", value, f"{value!r} is not a TCP port number", "e.g. 443")
    return value


def _exempt(value: object) -> PathSet:
    if isinstance(value, str) or not isinstance(value, Collection):
        raise OptionError(
            "exempt",
            value,
            f"{value!r} is a string, not a list of path patterns",
            f"write [{value!r}]",
        )
    return PathSet(value, option="exempt")


class HTTPSRedirect(Layer):
    """Redirect plain-HTTP requests to HTTPS (after the host check)."""

    name: ClassVar[str] = "https_redirect"

    def __init__(
        self,
        app: WSGIApplication | None = None,
        *,
        status: int = 301,  # cacheable: browsers remember the upgrade
        exempt: Collection[str] = (),
        https_port: int = 443,
        report_only: bool = False,
    ) -> None:
        super().__init__(app)
        self.status = choice("status", status, _STATUS)
        self._safe_status, self._unsafe_status = _STATUS[self.status]
        self._exempt = _exempt(exempt)
        self.exempt = self._exempt.patterns
        self.https_port = _port(https_port)
        self._port_suffix = "" if self.https_port == 443 else f":{self.https_port}"
        self.report_only = boolean("report_only", report_only)

    def describe(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "exempt": list(self.exempt),
            "https_port": self.https_port,
            "report_only": self.report_only,
        }

    def on_request(self, ctx: Context) -> Response | None:
        if ctx.is_secure or self._exempt.both(ctx):
            return None
        host = ctx.host
        if not host or _HOST.match(host) is None:
            security_event("https_redirect_bad_host", layer=self.name, host=host[:100])
            if self.report_only:
                return None
            return error_response(ctx, "400 Bad Request", "Bad Request: invalid Host header")
        if not host.endswith("]") and ":" in host:
            host = host.rpartition(":")[0]  # the HTTP port; https_port replaces it
        path = ctx.root_path + ctx.raw_path
        location = "https://" + host + self._port_suffix + quote(_bytes(path), _PATH_SAFE)
        query = ctx.query_string
        if query:
            location += "?" + quote(_bytes(query), _QUERY_SAFE)
        status = self._safe_status if ctx.method in ("GET", "HEAD") else self._unsafe_status
        if self.report_only:
            security_event(
                "https_redirect", layer=self.name, path=path[:200], status=status, report_only=True
            )
            return None
        return Response.text(status, f"Redirecting to {location}\n", [("Location", location)])


def _bytes(text: str) -> bytes:
    """A WSGI string as the bytes the client sent (latin-1), else UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")
