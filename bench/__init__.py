"""Benchmarks and evaluations: ``python -m bench.run`` measures the store and the search path (issue 2, item 11)."""
