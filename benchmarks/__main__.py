"""``python -m benchmarks``: run the suite, print the tables and the target verdicts.

Writes ``benchmarks/results/latest.json`` and ``latest.md``; with ``--readme`` the
Markdown also replaces the results section of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import os
import sys
import time
from typing import Any

from . import asgi, harness, inprocess, scaling, server, streaming, targets

HERE = os.path.dirname(os.path.abspath(__file__))
SUITES = ("inprocess", "scaling", "asgi", "streaming", "server", "uvicorn")
START = "<!-- results:start -->"
END = "<!-- results:end -->"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "headerware's cost per request next to the peers' (flask-talisman, flask-cors, "
            "secure.py, Flask's session, Flask-WTF; Starlette's middlewares under ASGI), "
            "interleaved in rounds and reported as ratios to the baseline measured in the same run."
        ),
    )
    parser.add_argument(
        "--quick", action="store_true", help="few short rounds (smoke/CI): well under 30 s"
    )
    parser.add_argument(
        "--only",
        metavar="PATTERN",
        help="run only variants whose name contains PATTERN (comma-separated; baselines "
        "are added automatically), e.g. --only flask.session,scale.idle",
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 60, quick 6)")
    parser.add_argument(
        "--suite",
        default=",".join(SUITES),
        help=f"comma-separated subset of {', '.join(SUITES)} (default: all)",
    )
    parser.add_argument(
        "--server-seconds", type=float, help="wrk duration per run (default 5, quick 1)"
    )
    parser.add_argument(
        "--json",
        default=os.path.join(HERE, "results", "latest.json"),
        help="where to write the JSON results",
    )
    parser.add_argument(
        "--readme", action="store_true", help="write the tables into benchmarks/README.md"
    )
    parser.add_argument("--samples", action="store_true", help="keep every sample in the JSON")
    parser.add_argument(
        "--cpu-clock",
        action="store_true",
        help="time in-process batches in thread CPU time (time.thread_time): leaves out "
        "the time the process is descheduled, steadier on a loaded machine",
    )
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    suites = [s.strip() for s in args.suite.split(",") if s.strip()]
    unknown = sorted(set(suites) - set(SUITES))
    if unknown:
        log(f"unknown suite(s) {unknown}; choose from {', '.join(SUITES)}")
        return 2
    if args.cpu_clock:
        harness.CLOCK = time.thread_time
    rounds = args.rounds or (6 if args.quick else 60)
    batch_seconds = 0.0005 if args.quick else 0.001
    warmup = 20 if args.quick else 300
    command = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
    started = time.time()
    data: dict[str, Any] = {
        "command": command.strip(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": harness.machine_info(),
        "config": {
            "rounds": rounds,
            "batch_seconds": batch_seconds,
            "quick": args.quick,
            "clock": "thread_time" if args.cpu_clock else "perf_counter",
        },
    }
    markdown: list[str] = []
    inproc: list[harness.Result] = []
    scale: list[harness.Result] = []
    asgi_results: list[harness.Result] = []
    stream: dict[str, Any] | None = None
    srv: dict[str, Any] | None = None
    load: dict[str, Any] | None = None

    if "inprocess" in suites:
        chosen = harness.select(inprocess.variants(), args.only)
        if chosen:
            log(f"in-process: {len(chosen)} variants x {rounds} rounds")
            inproc = harness.run_interleaved(
                chosen, rounds=rounds, batch_seconds=batch_seconds, warmup=warmup, progress=log
            )
            markdown.append(harness.markdown_table(inproc, "In-process, per request"))
            data["inprocess"] = [r.as_dict(args.samples) for r in inproc]
    if "scaling" in suites:
        chosen = harness.select(scaling.variants(), args.only)
        if chosen:
            log(f"scaling: {len(chosen)} variants x {rounds} rounds")
            scale = harness.run_interleaved(
                chosen, rounds=rounds, batch_seconds=batch_seconds, warmup=warmup, progress=log
            )
            markdown.append(harness.markdown_table(scale, "Scaling: one Stack of N layers"))
            data["scaling"] = [r.as_dict(args.samples) for r in scale]
    if "asgi" in suites:
        try:
            chosen = harness.select(asgi.variants(), args.only)
        except harness.Unavailable as exc:
            log(f"asgi: {exc}")
            chosen = []
        if chosen:
            log(f"asgi: {len(chosen)} variants x {rounds} rounds")
            asgi_results = harness.run_interleaved(
                chosen, rounds=rounds, batch_seconds=batch_seconds, warmup=warmup, progress=log
            )
            markdown.append(asgi.table(asgi_results))
            data["asgi"] = [r.as_dict(args.samples) for r in asgi_results]
    wants_all = not args.only
    if "streaming" in suites and (wants_all or "stream" in args.only):
        log("streaming")
        stream = streaming.run(ttfb_samples=40 if args.quick else 300, progress=log)
        markdown.append(streaming.markdown(stream))
        data["streaming"] = stream
    if "server" in suites and (wants_all or "server" in args.only or "wrk" in args.only):
        log("gunicorn + wrk")
        only = (
            ["wsgi-bare", "wsgi-full", "wsgi-same-headers", "wsgi-bare-again"]
            if args.quick
            else None
        )
        if args.only:
            names = [n for n, _ in server.VARIANTS]
            picked = [
                n for n in names if any(fnmatch.fnmatch(n, f"*{p}*") for p in args.only.split(","))
            ]
            only = picked or only
        srv = server.run(
            rounds=1 if args.quick else 4,
            seconds=args.server_seconds or (1.0 if args.quick else 3.0),
            only=only,
            progress=log,
        )
        markdown.append(server.markdown(srv))
        data["server"] = srv

    if "uvicorn" in suites and (wants_all or "uvicorn" in args.only):
        log("uvicorn + wrk")
        load = asgi.run_load(
            rounds=1 if args.quick else 2,
            seconds=args.server_seconds or (1.0 if args.quick else 5.0),
            only=("bare", "hw-full") if args.quick else None,
            progress=log,
        )
        markdown.append(asgi.load_markdown(load))
        data["uvicorn"] = load

    verdicts = targets.evaluate(inproc, scale, stream, srv)
    if asgi_results:
        verdicts += targets.evaluate_asgi(asgi_results)
    data["targets"] = verdicts
    data["seconds"] = round(time.time() - started, 1)
    target_lines = targets.lines(verdicts)
    markdown.append("### Targets\n\n```\n" + "\n".join(target_lines) + "\n```\n")

    text = "\n".join(markdown)
    print(text)
    harness.write_json(args.json, data)
    md_path = os.path.splitext(args.json)[0] + ".md"
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(text)
    log(f"wrote {args.json} and {md_path} in {data['seconds']} s")
    if args.readme:
        write_readme(data, text)
    return 0


def write_readme(data: dict[str, Any], text: str) -> None:
    """Replace the results section of benchmarks/README.md."""
    path = os.path.join(HERE, "README.md")
    with open(path, encoding="utf-8") as f:
        readme = f.read()
    machine = data["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in machine.get("packages", {}).items() if v)
    header = (
        f"Measured {data['date']} on {machine.get('cpu', '?')} ({machine.get('cpus')} CPUs, "
        f"load average {machine.get('loadavg')}), Python {machine['python']}, "
        f"{machine['platform']}, headerware {machine.get('git', '?')}; {packages}.\n\n"
        f"Command: `{data['command']}` ({data['seconds']} s; clock "
        f"{data['config'].get('clock', 'perf_counter')}).\n\n"
    )
    block = f"{START}\n{header}{text}\n{END}"
    if START in readme and END in readme:
        before = readme.split(START, 1)[0]
        after = readme.split(END, 1)[1]
        readme = before + block + after
    else:
        readme = readme.rstrip() + "\n\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(readme)
    log(f"updated {path}")


if __name__ == "__main__":
    sys.exit(main())
