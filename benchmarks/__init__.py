"""headerware's benchmark suite: ``python -m benchmarks`` (see benchmarks/README.md).

Per-request cost in-process (interleaved rounds, medians, ratios to a baseline measured
in the same run) next to the peers users would pick instead, scaling with the number
of layers, streaming memory and time to first byte, and gunicorn + wrk.
"""
