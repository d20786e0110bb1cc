"""security_headers: COOP/COEP report-only, Integrity-Policy, shared Reporting-Endpoints."""

from __future__ import annotations

from typing import Any

import pytest
import webtest

from headerware import OptionError, Stack
from headerware.layers.csp import ContentSecurityPolicy
from headerware.layers.security import SecurityHeaders


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b"<p>ok</p>"]


def headers(layer: Any, https: bool = False) -> Any:
    scheme = "https" if https else "http"
    return webtest.TestApp(layer).get("/", extra_environ={"wsgi.url_scheme": scheme}).headers


def test_off_by_default() -> None:
    sent = headers(SecurityHeaders(app))
    for name in (
        "Cross-Origin-Opener-Policy-Report-Only",
        "Cross-Origin-Embedder-Policy-Report-Only",
        "Integrity-Policy",
        "Integrity-Policy-Report-Only",
    ):
        assert name not in sent
    assert sent["Cross-Origin-Opener-Policy"] == "same-origin"  # unchanged


def test_report_only_twins_and_integrity_with_a_shared_group() -> None:
    layer = SecurityHeaders(
        app,
        cross_origin_embedder_policy_report_only=True,
        cross_origin_opener_policy_report_only="SAME-ORIGIN",
        integrity_policy_report_only=True,
        integrity_policy="blocked-destinations=(script  style),sources=(inline)",
        report_to="csp-endpoint",
    )
    sent = headers(ContentSecurityPolicy(layer, report_path="/r"), https=True)
    group = '; report-to="csp-endpoint"'
    assert sent["Cross-Origin-Embedder-Policy-Report-Only"] == "require-corp" + group
    assert sent["Cross-Origin-Opener-Policy-Report-Only"] == "same-origin" + group
    assert sent["Cross-Origin-Opener-Policy"] == "same-origin" + group
    assert sent["Integrity-Policy-Report-Only"] == (
        "blocked-destinations=(script), endpoints=(csp-endpoint)"
    )
    assert sent["Integrity-Policy"] == (
        "blocked-destinations=(script style), sources=(inline), endpoints=(csp-endpoint)"
    )
    # one Reporting-Endpoints, from the csp layer, shared by every policy
    assert sent.getall("Reporting-Endpoints") == ['csp-endpoint="/r"']


def test_own_endpoints_kept_and_describe_round_trips() -> None:
    layer = SecurityHeaders(
        app, integrity_policy="blocked-destinations=(script), endpoints=(mine)", report_to="g"
    )
    assert headers(layer)["Integrity-Policy"] == "blocked-destinations=(script), endpoints=(mine)"
    described = layer.describe()
    assert described["report_to"] == "g"
    assert described["integrity_policy"] == "blocked-destinations=(script), endpoints=(mine)"
    assert described["cross_origin_embedder_policy_report_only"] is False
    again = SecurityHeaders(app, **described)
    assert again.describe() == described


def test_json_responses_do_not_get_them() -> None:
    def json_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    sent = headers(SecurityHeaders(json_app, integrity_policy=True))
    assert "Integrity-Policy" not in sent


COEP_RO = "cross_origin_embedder_policy_report_only"
COOP_RO = "cross_origin_opener_policy_report_only"
IP = "integrity_policy"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        pytest.param(COEP_RO, "corp", id="coep"),
        pytest.param(COOP_RO, 1, id="coop"),
        pytest.param(IP, "blocked-destinations=(image)", id="dest"),
        pytest.param(IP, "sources=(inline)", id="no-dest"),
        pytest.param("integrity_policy_report_only", "blocked=(script)", id="key"),
        pytest.param(IP, "blocked-destinations=(script), endpoints=(a\\b)", id="endpoint"),
        pytest.param(IP, "blocked-destinations=(script)\r\nX: y", id="crlf"),
        pytest.param("report_to", "bad group", id="group"),
        pytest.param("report_to", 3, id="group-type"),
    ],
)
def test_bad_values_refused_at_construction(option: str, value: object) -> None:
    with pytest.raises(OptionError) as info:
        SecurityHeaders(app, **{option: value})
    assert info.value.option == option


def test_in_a_stack() -> None:
    stack = Stack([SecurityHeaders(integrity_policy_report_only=True)], app)
    assert headers(stack)["Integrity-Policy-Report-Only"] == "blocked-destinations=(script)"
