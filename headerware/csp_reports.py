"""The violation report receiver of the ``csp`` layer (CSP, COOP, COEP, Integrity-Policy).

:class:`~headerware.layers.csp.ContentSecurityPolicy` turns it on with
``report_path`` (e.g. ``"/_headerware/csp-report"``) and then answers that path
itself with :func:`receive_report`:

- ``POST`` with ``application/csp-report`` (CSP level 2, one report) or
  ``application/reports+json`` (the Reporting API, a list): **204** after logging
  each violation as the security event ``csp_violation`` with ``document_uri``,
  ``blocked_uri``, ``violated_directive``, ``disposition``, ``source_file``,
  ``line_number``, ``column_number``, ``status_code``, ``sample`` and
  ``report_format``. URLs lose their query string and fragment (they may hold
  tokens) and every string is truncated; at most 100 reports of one body are logged.
- The other policies that share the ``Reporting-Endpoints`` group send Reporting
  API reports here too: ``coop``, ``coep`` and ``integrity-violation`` (the
  ``Integrity-Policy`` headers) are logged as ``coop_violation``,
  ``coep_violation`` and ``integrity_violation`` with the same fields (the
  directive is the report's ``type`` for COOP and COEP, the ``destination`` for
  Integrity-Policy; the document is the report's ``url`` when the body has none)
  and collected with ``kind`` set (:mod:`headerware.csp_store`). Reports of other
  types (deprecation, intervention, ...) are skipped.
- Another method: **405** (``Allow: POST``); another media type: **415**; no or an
  unparsable Content-Length: **411**; a body over ``report_max_bytes``: **413**,
  not read; a short body, malformed JSON or an unexpected shape: **400**. Each
  refusal is logged at INFO as ``csp_report_refused`` (status and reason).
- With a :class:`~headerware.csp_store.Collector` (the layer's ``report_store``,
  ``report_db`` and ``report_limits`` options), a client over its rate gets
  **429** (``Retry-After: 60``) before its body is read, and the violations of an
  accepted body are normalised, deduplicated and stored (:mod:`headerware.csp_store`).
  Every logged or stored string has its control characters escaped.

The receiver is off by default: an open endpoint that writes logs is opt-in.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, NamedTuple

from werkzeug.http import parse_options_header

from ._headers import is_safe_value, is_token
from ._log import security_event
from .core.layer import Response
from .csp_policy import Policy
from .csp_store import escape
from .options import OptionError

if TYPE_CHECKING:
    from ._headers import HeaderList
    from .core.context import Context
    from .core.layer import ResponseHead
    from .csp_store import Collector

__all__ = [
    "Reporting",
    "add_endpoint",
    "check_report_group",
    "check_report_max_bytes",
    "check_report_path",
    "check_url",
    "receive_report",
    "report_body_limit",
    "reporting_directives",
]

_REPORT_TYPES = frozenset({"application/csp-report", "application/reports+json"})
#: Reporting API report type -> the kind stored (headerware.csp_store.KINDS).
_KINDS = {
    "csp-violation": "csp",
    "coop": "coop",
    "coep": "coep",
    "integrity-violation": "integrity",
}
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


# -- options ---------------------------------------------------------------------------


def check_url(option: str, value: object) -> str:
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


def check_report_path(value: object) -> str | None:
    """The ``report_path`` option: ``None`` or a path starting with ``/``."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("/"):
        raise OptionError(
            "report_path",
            value,
            f"{value!r} must be a path starting with '/'",
            "e.g. '/_headerware/csp-report'",
        )
    return check_url("report_path", value)


def check_report_max_bytes(value: object) -> int:
    """The ``report_max_bytes`` option: at least 1 KiB."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
        raise OptionError(
            "report_max_bytes",
            value,
            f"{value!r} is too small for a report",
            "use at least 1024 (the default 65536 fits every real report)",
        )
    return value


def check_report_group(value: object) -> str:
    """The ``report_group`` option: an endpoint name the ``report-to`` directive takes."""
    if not isinstance(value, str) or not is_token(value) or not value.isascii():
        raise OptionError(
            "report_group", value, f"{value!r} is not an endpoint name", "e.g. 'csp-endpoint'"
        )
    Policy({"report-to": [value]}, option="report_group")  # the directive's own grammar
    return value


def reporting_directives(
    report_uri: str | None, report_to: str | None, group: str
) -> tuple[dict[str, list[str]], dict[str, list[str]], str | None]:
    """The reporting directives for plain HTTP and for HTTPS, and the endpoint member.

    ``report-to`` goes on HTTPS responses only: the Reporting API works only in
    secure contexts, and browsers ignore ``report-uri`` when ``report-to`` is
    present, so on plain HTTP it would swallow every report.
    """
    plain: dict[str, list[str]] = {} if report_uri is None else {"report-uri": [report_uri]}
    secure = dict(plain)
    if report_to is None:
        return plain, secure, None
    secure["report-to"] = [group]
    endpoint = f'{group}="{report_to}"'
    if not is_safe_value(endpoint):
        raise OptionError("report_to", report_to, "cannot be sent in a header")
    return plain, secure, endpoint


def add_endpoint(response: ResponseHead, group: str, endpoint: str) -> None:
    """Add the group to Reporting-Endpoints unless the app defines it already."""
    current = response.get("reporting-endpoints")
    if current is None:
        response.add("Reporting-Endpoints", endpoint)
        return
    groups = {member.split("=", 1)[0].strip() for member in current.split(",")}
    if group not in groups:
        response.set("Reporting-Endpoints", f"{current}, {endpoint}")


class Reporting(NamedTuple):
    """The reporting options of the layer, checked, and the directives they give."""

    uri: str | None
    to: str | None
    group: str
    path: str | None
    max_bytes: int
    given: tuple[object, object]  # report_uri and report_to as written
    plain: dict[str, list[str]]
    secure: dict[str, list[str]]
    endpoint: str | None

    @classmethod
    def from_options(
        cls,
        report_uri: object,
        report_to: object,
        report_group: object,
        report_path: object,
        report_max_bytes: object,
    ) -> Reporting:
        path = check_report_path(report_path)
        given = (report_uri, report_to)
        if path is not None and report_uri is None and report_to is None:
            report_uri = report_to = path
        max_bytes = check_report_max_bytes(report_max_bytes)
        uri = None if report_uri is None else check_url("report_uri", report_uri)
        to = None if report_to is None else check_url("report_to", report_to)
        group = check_report_group(report_group)
        plain, secure, endpoint = reporting_directives(uri, to, group)
        return cls(uri, to, group, path, max_bytes, given, plain, secure, endpoint)

    def describe(self) -> dict[str, Any]:
        return {
            "report_uri": self.given[0],
            "report_to": self.given[1],
            "report_group": self.group,
            "report_path": self.path,
            "report_max_bytes": self.max_bytes,
        }


# -- the receiver ----------------------------------------------------------------------


def _refuse(status: str, reason: str, headers: HeaderList | None = None) -> Response:
    security_event("csp_report_refused", level=logging.INFO, status=int(status[:3]), reason=reason)
    return Response.text(status, reason, headers)


def receive_report(ctx: Context, max_bytes: int, collector: Collector | None = None) -> Response:
    """Answer one request to the report path: log (and collect) its violations, or refuse."""
    if ctx.method != "POST":
        return _refuse(
            "405 Method Not Allowed", "CSP reports are sent with POST", [("Allow", "POST")]
        )
    mimetype = parse_options_header(ctx.header("content-type") or "")[0].lower()
    if mimetype not in _REPORT_TYPES:
        return _refuse(
            "415 Unsupported Media Type",
            "expected application/csp-report or application/reports+json",
        )
    if collector is not None and not collector.allow(ctx.client):
        return _refuse(
            "429 Too Many Requests", "too many reports from this client", [("Retry-After", "60")]
        )
    try:
        length = int(ctx.header("content-length") or "")
    except ValueError:
        return _refuse("411 Length Required", "a Content-Length is required")
    if length < 0:
        return _refuse("400 Bad Request", "invalid Content-Length")
    if length > max_bytes:
        return _refuse("413 Content Too Large", f"a report may be at most {max_bytes} bytes")
    try:
        body = ctx.read_body(max_bytes)
    except Exception:  # a client that went away: nothing to log but the refusal
        return _refuse("400 Bad Request", "the report body could not be read")
    if body is None or len(body) != length:
        return _refuse("400 Bad Request", "the report body is shorter than announced")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return _refuse("400 Bad Request", "the report is not valid JSON")
    reports = _extract_reports(payload, mimetype)
    if reports is None:
        return _refuse("400 Bad Request", "the report does not have the expected shape")
    report_format = mimetype.rpartition("/")[2]
    reports = reports[: _MAX_LOGGED_REPORTS if collector is None else collector.max_reports]
    for report in reports:
        logged = {key: value for key, value in report.items() if key != "kind"}
        security_event(f"{report['kind']}_violation", report_format=report_format, **logged)
    if collector is not None:
        collector.collect(reports)
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
        return [{"kind": "csp", **fields}]
    if not isinstance(payload, list):
        return None
    reports: list[dict[str, Any]] = []
    for item in payload:
        if not isinstance(item, dict):
            return None
        kind = _KINDS.get(item.get("type"))  # type: ignore[arg-type]
        if kind is None:
            continue  # other report types (deprecation, ...) are not ours to log
        body = item.get("body")
        if not isinstance(body, dict):
            return None
        if kind == "csp":
            reports.append({"kind": kind, **_fields(body, 2)})
        else:
            url = item.get("url")
            reports.append(_other_fields(kind, body, url if isinstance(url, str) else ""))
    return reports


# The URL naming the other side of a COOP report, by report type (the first present).
_COOP_OTHER = ("previousResponseURL", "nextResponseURL", "openerURL", "openedWindowURL",
               "otherDocumentURL", "initialPopupURL", "referrer")  # fmt: skip


def _other_fields(kind: str, body: dict[str, Any], url: str) -> dict[str, Any]:
    """The fields of a COOP, COEP or Integrity-Policy report, in the CSP fields' names."""
    fields: dict[str, Any] = {"kind": kind}
    name = body.get("destination") if kind == "integrity" else body.get("type")
    if isinstance(name, str):
        fields["violated_directive"] = _clip(name.strip().replace(" ", "-"), _TEXT_LIMIT)
    elif kind == "integrity":
        fields["violated_directive"] = "integrity"
    document = body.get("documentURL") if kind == "integrity" else None
    document = document if isinstance(document, str) else url
    blocked = body.get("blockedURL")
    if kind == "coop":
        found = (body.get(key) for key in _COOP_OTHER)
        blocked = next((value for value in found if isinstance(value, str) and value), None)
    disposition = body.get("disposition")
    if kind == "integrity" and isinstance(body.get("reportOnly"), bool):
        disposition = "report" if body["reportOnly"] else "enforce"
    for field, value, limit in (
        ("document_uri", document, _URL_LIMIT),
        ("blocked_uri", blocked, _URL_LIMIT),
    ):
        if isinstance(value, str):
            fields[field] = _clip(value.partition("#")[0].partition("?")[0], limit)
    if isinstance(disposition, str):
        fields["disposition"] = _clip(disposition, 16)
    return fields


def _clip(value: str, limit: int) -> str:
    return escape(value, limit) + ("..." if len(value) > limit else "")


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


def report_body_limit(ctx: Context, max_bytes: int) -> int | None:
    """``max_bytes`` when :func:`receive_report` reads this request's body (a ``POST``
    of a report type with a ``Content-Length`` within it), else ``None``: an ASGI
    layer awaits the body (``ctx.read_body_async``) exactly then."""
    if ctx.method != "POST":
        return None
    mimetype = parse_options_header(ctx.header("content-type") or "")[0].lower()
    length = ctx.header("content-length") or ""
    if mimetype not in _REPORT_TYPES or not length.isdigit() or int(length) > max_bytes:
        return None
    return max_bytes
