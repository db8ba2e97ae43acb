"""Benchmarks: each ``bench_*.py`` module has ``run() -> list[dict]``; ``python -m bench`` runs them all."""
