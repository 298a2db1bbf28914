"""Benchmarks, run by `make bench` (never by the test suite): every figure is printed
beside a baseline measured in the same run, because these machines are noisy."""
