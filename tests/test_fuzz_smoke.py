"""A short run of the whole-stack fuzz harness (fuzz/fuzz_stack.py) in CI.

Two drivers of the same ``check_one``: atheris (coverage-guided, a fixed number of
executions in a subprocess, skipped when atheris is not installed) and Hypothesis
(``st.binary()``, always). Long runs: see fuzz/README.md.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example
from hypothesis import strategies as st

from fuzz.fuzz_stack import VARIANTS, Input, check_one, describe
from tests._hypothesis import PROFILES, run_property

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "fuzz" / "fuzz_stack.py"
#: libFuzzer executions in the CI run (~10 s here) and in the slow one.
CI_RUNS = int(os.environ.get("HEADERWARE_FUZZ_RUNS", "30000"))
SLOW_RUNS = 300_000


@pytest.fixture(autouse=True)
def _quiet_security_events(caplog: pytest.LogCaptureFixture) -> None:
    # Thousands of refusals are expected; keeping every record would only cost memory.
    caplog.set_level(logging.CRITICAL, logger="headerware")


def _atheris(runs: int, tmp_path: Path) -> None:
    if importlib.util.find_spec("atheris") is None:
        pytest.skip("atheris is not installed (pip install -e '.[dev]')")
    result = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            f"-runs={runs}",
            "-seed=7",
            "-rss_limit_mb=4096",
            "-timeout=10",
            f"-artifact_prefix={tmp_path}/",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = result.stderr[-4000:]
    assert result.returncode == 0, f"the fuzzer found a crash:\n{tail}"
    assert f"Done {runs} runs" in result.stderr, tail


@pytest.mark.parametrize(
    "runs",
    [pytest.param(CI_RUNS, id="ci"), pytest.param(SLOW_RUNS, id="slow", marks=pytest.mark.slow)],
)
def test_atheris_run(runs: int, tmp_path: Path) -> None:
    _atheris(runs, tmp_path)


@pytest.mark.parametrize("profile", PROFILES)
def test_hypothesis_drives_the_harness(profile: str) -> None:
    @example(b"")
    @example(b"\x00" * 64)
    @example(b"\xff" * 400)
    def prop(data: bytes) -> None:
        check_one(data)

    run_property(profile, prop, st.binary(max_size=600))


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_serves_a_plain_request(variant: str) -> None:
    # The first byte picks the variant; zeros after it: a plain GET / over HTTP.
    data = bytes([VARIANTS.index(variant)])
    assert Input(data).choice(VARIANTS) == variant
    check_one(data)
    assert variant in describe(data)


def test_if_none_match_ending_in_newline_is_answered() -> None:
    """Regression: werkzeug's parse_etags looped forever on ``"abc"\\n`` (a hung worker)."""
    from fuzz.fuzz_stack import make_app_spec, make_environ, run

    environ = make_environ(Input(b""))
    environ["HTTP_IF_NONE_MATCH"] = '"abc"\n'
    spec = make_app_spec(Input(b""))
    spec["headers"].append(("ETag", '"abc"'))
    status, _, _ = run(environ, spec, "no_request_headers")
    assert status == "304 Not Modified"
