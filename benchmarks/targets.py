"""The targets of issue 6 (and the benchmark parts of issues 2, 3, 4), checked as ratios
of overheads measured in the same run; each gives PASS, FAIL or SKIP (not measured)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from .harness import Result


def _overhead_ratio(
    by_name: dict[str, Result], name: str, reference: str
) -> tuple[float | None, str]:
    a, b = by_name.get(name), by_name.get(reference)
    for r, label in ((a, name), (b, reference)):
        if r is None:
            return None, f"{label} not measured"
        if r.overhead is None:
            return None, f"{label}: {r.status} {r.reason}".strip()
    assert a is not None and b is not None and a.overhead is not None and b.overhead is not None
    detail = f"{name} {a.overhead:+.2f} µs / {reference} {b.overhead:+.2f} µs"
    if b.overhead <= 0:
        return None, detail + " (reference overhead not positive: noise)"
    return a.overhead / b.overhead, detail


def evaluate(
    inprocess: Sequence[Result],
    scaling: Sequence[Result],
    streaming: dict[str, Any] | None,
    server: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """Every target as ``{"target", "value", "limit", "verdict", "detail"}``."""
    by_name = {r.name: r for r in [*inprocess, *scaling]}
    out: list[dict[str, Any]] = []

    def ratio(target: str, name: str, reference: str, limit: float) -> None:
        value, detail = _overhead_ratio(by_name, name, reference)
        verdict = "SKIP" if value is None else ("PASS" if value <= limit else "FAIL")
        out.append(
            {"target": target, "value": value, "limit": limit, "verdict": verdict, "detail": detail}
        )

    ratio(
        "SecurityHeaders (static) ≤ 2x the hand-written middleware's overhead",
        "wsgi.get.hw-security",
        "wsgi.get.floor",
        2.0,
    )
    ratio(
        "security headers + CSP nonce ≤ 1/10 of flask-talisman with nonce (Flask)",
        "flask.get.hw-security+nonce",
        "flask.get.talisman-nonce",
        0.1,
    )
    ratio(
        "full stack without cookies ≤ 1/10 of Talisman + flask-cors (Flask, GET)",
        "flask.get.hw-full-nocookies",
        "flask.get.talisman+cors",
        0.1,
    )
    ratio(
        "full stack without cookies ≤ 1/10 of Talisman + flask-cors (Flask, CORS request)",
        "flask.cors.hw-full-nocookies",
        "flask.cors.talisman+cors",
        0.1,
    )
    ratio(
        "cookie policy + signed cookie + session read ≤ 1/4 of Flask's own session",
        "flask.session.hw-cookies+session",
        "flask.session.flask-session",
        0.25,
    )
    ratio(
        "full stack with a signed session cookie ≤ 1/5 of Talisman + flask-cors",
        "flask.session.hw-full",
        "flask.session.talisman+cors",
        0.2,
    )
    ratio(
        "CORS simple request ≤ 1/5 of flask-cors (Flask)",
        "flask.cors.hw-cors",
        "flask.cors.flask-cors",
        0.2,
    )
    ratio(
        "CORS preflight ≤ 1/5 of flask-cors (Flask)",
        "flask.preflight.hw-cors",
        "flask.preflight.flask-cors",
        0.2,
    )
    ratio(
        "a Stack of 16 idle layers ≤ 2x a Stack of 1",
        "scale.idle-16",
        "scale.idle-1",
        2.0,
    )

    if streaming and streaming.get("status") == "ok":
        growth = streaming["memory"]["full"].get("growth_kib")
        bare_growth = streaming["memory"]["bare"].get("growth_kib")
        out.append(
            {
                "target": "streaming 200 MB through the full stack: peak RSS growth < 1 MiB",
                "value": growth,
                "limit": 1024,
                "verdict": "SKIP" if growth is None else ("PASS" if growth < 1024 else "FAIL"),
                "detail": f"full {growth} KiB, bare {bare_growth} KiB",
            }
        )
        bare, full = streaming["ttfb"]["bare"], streaming["ttfb"]["full"]
        delta = full["median_us"] - bare["median_us"]
        # Buffering any of the body would cost milliseconds; 100 µs is the stack's own
        # per-request work plus this machine's noise.
        out.append(
            {
                "target": "streaming: time to first byte unchanged beyond noise (Δ ≤ 100 µs)",
                "value": delta,
                "limit": 100,
                "verdict": "PASS" if delta <= 100 else "FAIL",
                "detail": f"full {full['median_us']} µs vs bare {bare['median_us']} µs",
            }
        )
        kept = streaming["file_wrapper_identity"]
        out.append(
            {
                "target": "wsgi.file_wrapper identity kept through the stack",
                "value": all(kept.values()),
                "limit": True,
                "verdict": "PASS" if kept and all(kept.values()) else "FAIL",
                "detail": ", ".join(f"{k}: {v}" for k, v in kept.items()),
            }
        )
    else:
        out.append(
            {
                "target": "streaming checks",
                "value": None,
                "limit": None,
                "verdict": "SKIP",
                "detail": (streaming or {}).get("reason", "not run"),
            }
        )

    if server and server.get("status") == "ok":
        rows = {row["name"]: row for row in server["variants"]}
        same, full = rows.get("wsgi-same-headers"), rows.get("wsgi-full")
        if same and full and same.get("rps") and full.get("rps") and "noise" in full:
            ratios = [a / b for a, b in zip(full["rps"], same["rps"], strict=False)]
            value = statistics.median(ratios)
            floor = 1 - max(full["noise"], 0.05)
            out.append(
                {
                    "target": "gunicorn + wrk: wsgi-full vs the same headers added by hand",
                    "value": value,
                    "limit": floor,
                    "verdict": "PASS" if value >= floor else "FAIL",
                    "detail": "separates headerware's own cost from the server's cost of "
                    "sending the extra headers; per round " + ", ".join(f"{r:.3f}" for r in ratios),
                }
            )
        for row in server["variants"]:
            if row["name"] not in ("wsgi-full", "flask-full"):
                continue
            if "ratio" not in row or "noise" not in row:
                out.append(
                    {
                        "target": f"gunicorn + wrk: {row['name']} no drop beyond noise",
                        "value": None,
                        "limit": None,
                        "verdict": "SKIP",
                        "detail": row.get("reason", "not measured"),
                    }
                )
                continue
            floor = 1 - max(row["noise"], 0.05)  # at least 5 %: wrk's own resolution
            out.append(
                {
                    "target": f"gunicorn + wrk: {row['name']} no drop beyond the run's noise",
                    "value": row["ratio"],
                    "limit": floor,
                    "verdict": "PASS" if row["ratio"] >= floor else "FAIL",
                    "detail": f"ratio {row['ratio']:.3f}; a second bare server strayed by up "
                    f"to {row['noise']:.1%} in the same rounds (non-2xx: {row['non_2xx']})",
                }
            )
    else:
        out.append(
            {
                "target": "gunicorn + wrk",
                "value": None,
                "limit": None,
                "verdict": "SKIP",
                "detail": (server or {}).get("reason", "not run"),
            }
        )
    return out


def lines(targets: Sequence[dict[str, Any]]) -> list[str]:
    """``PASS target (value vs limit) detail`` lines."""
    out = []
    for t in targets:
        value = t["value"]
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        limit = t["limit"]
        limit_shown = (
            f"{limit:g}"
            if isinstance(limit, float | int) and not isinstance(limit, bool)
            else str(limit)
        )
        out.append(
            f"{t['verdict']:4}  {t['target']}: {shown} (limit {limit_shown}) — {t['detail']}"
        )
    return out


#: Issue 13: "roughly <= 15 µs" for headerware's full stack around Starlette. Absolute,
#: so it moves with the machine (the ratio is the target; this is its sanity check).
ASGI_ABSOLUTE_US = 15.0


def evaluate_asgi(results: Sequence[Result]) -> list[dict[str, Any]]:
    """Issue 13's targets on the ASGI rows: ``hw-full`` <= 1/5 of the peer stack's
    overhead per request kind, and (approximately) <= 15 µs."""
    by_name = {r.name: r for r in results}
    out: list[dict[str, Any]] = []
    for kind, label in (("get", "GET"), ("cors", "CORS request"), ("session", "session read")):
        name, reference = f"asgi.{kind}.hw-full", f"asgi.{kind}.peers"
        value, detail = _overhead_ratio(by_name, name, reference)
        verdict = "SKIP" if value is None else ("PASS" if value <= 0.2 else "FAIL")
        out.append(
            {
                "target": f"ASGI full stack ≤ 1/5 of Starlette's CORS + Session + TrustedHost "
                f"+ secure.py headers (Starlette, {label})",
                "value": value,
                "limit": 0.2,
                "verdict": verdict,
                "detail": detail,
            }
        )
    for kind in ("get", "cors", "session"):
        row = by_name.get(f"asgi.{kind}.hw-full")
        over = row.overhead if row is not None else None
        out.append(
            {
                "target": f"ASGI full stack ≈ ≤ {ASGI_ABSOLUTE_US:g} µs over bare Starlette "
                f"({kind}; absolute, machine-dependent)",
                "value": over,
                "limit": ASGI_ABSOLUTE_US,
                "verdict": "SKIP"
                if over is None
                else ("PASS" if over <= ASGI_ABSOLUTE_US else "FAIL"),
                "detail": "not measured" if over is None else f"asgi.{kind}.hw-full {over:+.2f} µs",
            }
        )
    return out
