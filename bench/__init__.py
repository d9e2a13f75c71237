"""Benchmarks that write machine-readable results to bench/results/."""
