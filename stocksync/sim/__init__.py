"""The simulated market: an offline, deterministic source of A-share data and the test oracle."""

from stocksync.sim.market import SimMarket

__all__ = ["SimMarket"]
