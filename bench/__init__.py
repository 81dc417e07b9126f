"""Benchmarks for stocksync. ``python -m bench.ingest`` measures bar ingest end to end."""
