"""Benchmark harness for issue 7: `make bench` (python -m bench.run); see bench/README.md."""
