"""Benchmarks against the original pfioh/pman and the swift CLI, run as modules from the repository
root: ``.venv/bin/python -m benchmarks.bench_pfioh --scale 0.01`` (README.md)."""
