"""Synthetic, deterministic demo workloads for `recorder demo`, tests and benchmarks."""
