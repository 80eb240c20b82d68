"""Benchmarks: declarative scenarios, pure scorers, runners that print tables. They may read ../shared/datasets."""
