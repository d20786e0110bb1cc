"""Smoke tests of the benchmark harness: result structure and reporting, never timings."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from benchmarks import harness, targets
from benchmarks.harness import Prepared, Unavailable, Variant, environ_maker


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


class Closing:
    """A body that records close(), to check the harness closes what it consumes."""

    closed = 0

    def __iter__(self) -> Iterable[bytes]:
        return iter([b"a", b"b"])

    def close(self) -> None:
        Closing.closed += 1


def closing_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("X-Extra", "1")])
    return Closing()  # type: ignore[return-value]


def unavailable() -> Prepared:
    raise Unavailable("headerware.layers.nothing does not exist yet")


def forbidden(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("403 Forbidden", [])
    return [b""]


TINY = [
    Variant("tiny.bare", lambda: Prepared(hello, environ_maker()), None, "tiny"),
    Variant("tiny.closing", lambda: Prepared(closing_app, environ_maker()), "tiny.bare", "tiny"),
]


def run_tiny(variants: list[Variant]) -> list[harness.Result]:
    return harness.run_interleaved(variants, rounds=3, batch_seconds=0.0002, warmup=2)


def test_results_have_statistics_overheads_and_ratios() -> None:
    Closing.closed = 0
    results = run_tiny(TINY)
    assert [r.name for r in results] == ["tiny.bare", "tiny.closing"]
    for result in results:
        assert result.status == "ok"
        assert len(result.samples) == 3
        assert result.batch >= 1
        assert result.median is not None and result.p10 is not None and result.p90 is not None
        assert result.p10 <= result.median <= result.p90
    bare, closing = results
    assert bare.overhead is None and bare.ratio is None
    assert closing.overhead is not None and closing.ratio is not None
    assert closing.overhead_p10 is not None and closing.overhead_p90 is not None
    # Every measured request consumed and closed its body.
    assert Closing.closed >= 3 * closing.batch


@pytest.mark.parametrize(
    ("build", "status", "reason"),
    [
        pytest.param(unavailable, "unavailable", "does not exist yet", id="unavailable"),
        pytest.param(
            lambda: Prepared(forbidden, environ_maker()), "error", "403", id="wrong-status"
        ),
        pytest.param(
            lambda: Prepared(hello, environ_maker(), check=lambda s, h, b: "no nonce"),
            "error",
            "no nonce",
            id="failed-check",
        ),
    ],
)
def test_variants_that_cannot_run_become_rows(
    build: Callable[[], Prepared], status: str, reason: str
) -> None:
    results = run_tiny([TINY[0], Variant("tiny.broken", build, "tiny.bare", "tiny")])
    broken = results[1]
    assert broken.status == status
    assert reason in broken.reason
    assert broken.samples == [] and broken.overhead is None
    table = harness.markdown_table(results)
    assert "| tiny.broken |" in table
    assert results[0].median is not None


def test_markdown_and_json_output(tmp_path: Any) -> None:
    results = run_tiny(TINY)
    table = harness.markdown_table(results, "Tiny")
    assert table.startswith("### Tiny")
    assert "| tiny.closing | get |" in table
    assert "(baseline)" in table
    path = tmp_path / "out" / "latest.json"
    harness.write_json(str(path), {"inprocess": [r.as_dict() for r in results]})
    data = json.loads(path.read_text())
    assert {"name", "median", "p10", "p90", "overhead", "ratio", "status"} <= set(
        data["inprocess"][1]
    )


def test_select_keeps_the_baselines_of_what_it_picks() -> None:
    picked = harness.select(TINY, "closing")
    assert [v.name for v in picked] == ["tiny.bare", "tiny.closing"]
    assert harness.select(TINY, None) == TINY


def test_targets_skip_what_was_not_measured() -> None:
    verdicts = targets.evaluate(run_tiny(TINY), [], None, None)
    assert verdicts
    assert {v["verdict"] for v in verdicts} == {"SKIP"}
    assert all(line.startswith("SKIP") for line in targets.lines(verdicts))


def test_the_suite_variants_build_lazily() -> None:
    from benchmarks import inprocess, scaling

    names = [v.name for v in inprocess.variants() + scaling.variants()]
    assert len(names) == len(set(names))
    assert "wsgi.get.floor" in names and "flask.get.talisman-nonce" in names
    by_name = {v.name: v for v in inprocess.variants()}
    for variant in by_name.values():
        assert variant.baseline is None or variant.baseline in by_name


def test_the_asgi_benchmark_runs_one_round() -> None:
    """benchmarks.asgi: every variant builds, passes its check (status, nonce, CORS grant,
    session read) and gets a sample; the ASGI targets are computed from the rows."""
    pytest.importorskip("starlette")
    from benchmarks import asgi

    variants = asgi.variants()
    names = [v.name for v in variants]
    assert len(names) == len(set(names))
    assert {"asgi.get.bare", "asgi.get.peers", "asgi.get.hw-full"} <= set(names)
    results = harness.run_interleaved(variants, rounds=1, batch_seconds=0.0001, warmup=1)
    broken = [(r.name, r.reason) for r in results if r.status != "ok"]
    assert broken == []
    assert all(len(r.samples) == 1 for r in results)
    verdicts = targets.evaluate_asgi(results)
    assert len(verdicts) == 6
    assert all(v["verdict"] in ("PASS", "FAIL") for v in verdicts)
    assert "asgi.get.hw-full" in asgi.table(results)


def test_the_asgi_variants_really_differ() -> None:
    """The peer stack and headerware's stack do what they are measured doing."""
    pytest.importorskip("starlette")
    from benchmarks import asgi

    peers = dict(asgi.asgi_request(asgi.peers_app(), asgi.cors_request()())[1])
    hw_app = asgi.hw_app(asgi.hw_full_layers())
    hw = dict(asgi.asgi_request(hw_app, asgi.cors_request()())[1])
    assert peers["access-control-allow-origin"] == hw["access-control-allow-origin"]
    # On the HTML page, only headerware's policy carries a per-request nonce.
    peers_page = dict(asgi.asgi_request(asgi.peers_app(), asgi.get_request()())[1])
    hw_page = dict(asgi.asgi_request(hw_app, asgi.get_request()())[1])
    assert "x-frame-options" in peers_page
    assert "'nonce-" not in peers_page["content-security-policy"]
    assert "'nonce-" in hw_page["content-security-policy"]
    # Both refuse a Host they were not configured for.
    scope = asgi.scope_maker("/", headers=[])()
    scope["headers"] = [(b"host", b"evil.example")]
    assert asgi.asgi_request(asgi.peers_app(), dict(scope))[0] == "400"
    assert asgi.asgi_request(asgi.hw_app(asgi.hw_full_layers()), scope)[0].startswith("4")


def test_the_uvicorn_load_run_reports_a_missing_wrk(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import asgi

    monkeypatch.setattr(asgi.shutil, "which", lambda name: None)
    data = asgi.run_load(rounds=1, seconds=1)
    assert data["status"] == "unavailable"
    assert "wrk" in asgi.load_markdown(data)
