"""The chaos matrix: real runs on the simulated market, with workers, Redis and PostgreSQL
killed, restarted or starved mid-run, each checked against the simulated market's truth.

``python -m bench.chaos`` (see bench/chaos/README.md); the work is in :mod:`bench.chaos.runner`.
"""
