"""Benchmarks: each module is runnable (`python -m bench.latency`); `python -m bench.run_all` runs
them all and regenerates BENCHMARKS.md from the JSON they write to bench/results/."""
