"""``python -m benchmarks.engines``: today's engine and the one tagged ``engine-0.1``,
side by side in one run.

Two engines cannot be imported into one process, so each runs in a worker process
of its own: the tagged tree's ``headerware/`` is extracted with ``git archive`` into
a temporary directory and put first on the old worker's ``sys.path``; both workers
build the same variants from this tree's ``benchmarks`` package (the variants use
only the layers' public constructors, and ``benchmarks.scaling`` defines its idle
and active layers for either layer protocol). Rounds are interleaved: in every
round each variant is timed in the old worker, then in the new one, then the next
variant. Reported: medians over the rounds (µs per request), each engine's overhead
over the bare application measured in the same worker, and the new/old ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

#: The commit the tag ``engine-0.1`` names (used when a clone has no tags).
ENGINE_0_1 = "e2037e9"

#: (variant, its baseline) pairs measured in both engines.
PAIRS: list[tuple[str, str]] = [
    ("wsgi.get.hand-full", "wsgi.get.bare"),
    ("wsgi.get.hw-full", "wsgi.get.bare"),
    ("wsgi.get.hw-full-nocookies", "wsgi.get.bare"),
    ("wsgi.cors.hand-full", "wsgi.cors.bare"),
    ("wsgi.cors.hw-full-nocookies", "wsgi.cors.bare"),
    ("wsgi.session.hw-full", "wsgi.session.bare"),
    ("flask.cors.hw-full-nocookies", "flask.cors.bare"),
    ("flask.cors.talisman+cors", "flask.cors.bare"),
    ("scale.idle-1", "scale.bare"),
    ("scale.idle-16", "scale.bare"),
    ("scale.active-16", "scale.bare"),
]


def _variants() -> dict[str, Any]:
    from benchmarks import apps, inprocess, scaling
    from benchmarks.harness import Variant

    found = {v.name: v for v in [*inprocess.variants(), *scaling.variants()]}
    for kind, make in (("get", inprocess.get_request), ("cors", inprocess.cors_request)):
        found[f"wsgi.{kind}.hand-full"] = Variant(
            f"wsgi.{kind}.hand-full",
            lambda make=make: inprocess.prepared(
                apps.handwritten_full_middleware(apps.make_wsgi_app()), make()
            ),
            f"wsgi.{kind}.bare",
        )
    return found


def worker(tree: str) -> None:
    """Serve ``<name> <n>`` lines on stdin: time ``n`` requests, print seconds."""
    sys.path.insert(0, tree)
    sys.path.insert(1, ROOT)
    import gc

    import headerware
    from benchmarks.harness import _make_batch, prepare

    variants = _variants()
    batches: dict[str, Any] = {}
    print(json.dumps({"engine": headerware.__file__}), flush=True)
    for line in sys.stdin:
        name, _, count = line.partition(" ")
        if name not in batches:
            prepared, result = prepare(variants[name])
            if prepared is None:
                print(json.dumps({"error": result.reason}), flush=True)
                continue
            batches[name] = _make_batch(prepared)
            batches[name](200)
        n = int(count)
        gc.collect()
        gc.disable()
        best = min(batches[name](n) for _ in range(3))
        gc.enable()
        print(json.dumps({"seconds": best}), flush=True)


def _spawn(tree: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--worker", tree],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    json.loads(process.stdout.readline())
    return process


def _ask(process: subprocess.Popen[str], name: str, n: int) -> float | None:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(f"{name} {n}\n")
    process.stdin.flush()
    answer = json.loads(process.stdout.readline())
    return None if "error" in answer else n and answer["seconds"] / n * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engines")
    parser.add_argument("--worker", metavar="TREE", help=argparse.SUPPRESS)
    parser.add_argument(
        "--old",
        default="engine-0.1",
        help=f"git ref of the old engine (the tag engine-0.1 is commit {ENGINE_0_1})",
    )
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batch", type=int, default=400, help="requests per timed batch")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0
    with tempfile.TemporaryDirectory() as old_tree:
        ref = args.old
        known = subprocess.run(
            ["git", "-C", ROOT, "rev-parse", "--verify", "-q", ref + "^{commit}"]
        )
        if known.returncode and ref == "engine-0.1":
            ref = ENGINE_0_1
        archive = subprocess.run(
            ["git", "-C", ROOT, "archive", ref, "headerware"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", old_tree], input=archive, check=True)
        engines = {"old": _spawn(old_tree), "new": _spawn(ROOT)}
        names = sorted({name for pair in PAIRS for name in pair})
        samples: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for name in names:
                for label, process in engines.items():
                    value = _ask(process, name, args.batch)
                    if value is not None:
                        samples.setdefault((label, name), []).append(value)
        for process in engines.values():
            assert process.stdin is not None
            process.stdin.close()
            process.wait()
    median = {key: statistics.median(values) for key, values in samples.items()}
    print(
        f"engine {args.old} vs this tree, {args.rounds} interleaved rounds, "
        f"batches of {args.batch}; µs per request (median)\n"
    )
    print("| variant | old | new | old overhead | new overhead | new/old overhead |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, base in PAIRS:
        row = [name]
        overheads = []
        for label in ("old", "new"):
            value = median.get((label, name))
            row.append("n/a" if value is None else f"{value:.2f}")
        for label in ("old", "new"):
            pairs = zip(
                samples.get((label, name), []), samples.get((label, base), []), strict=False
            )
            diffs = [a - b for a, b in pairs]
            overheads.append(statistics.median(diffs) if diffs else None)
            row.append("n/a" if not diffs else f"{overheads[-1]:.2f}")
        old, new = overheads
        row.append(f"{new / old:.2f}" if old and new is not None else "n/a")
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
