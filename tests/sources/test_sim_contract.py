"""The simulated market passes the same contract as the real sources.

It has no server, so the switchable faults act at the source's own call gate: the wrapper below
raises what a server fault would make an adapter raise, or corrupts rows, before delegating.
"""

from __future__ import annotations

import pytest
from contract import SourceContract  # type: ignore[import-not-found]
from faults import Faults  # type: ignore[import-not-found]

from stocksync.sources.base import (
    FatalSourceError,
    RateLimitedError,
    TransientSourceError,
)
from stocksync.sources.sim import SimSource, sim_market

SEED, STOCKS = 20240601, 300


class FaultySim(SimSource):
    """SimSource whose every call first consults ``faults``."""

    def __init__(self, faults: Faults) -> None:
        super().__init__(sim_market(SEED, STOCKS))
        self.faults = faults

    def _call(self, what, fetch):  # type: ignore[no-untyped-def, override]
        now = self.faults.take()
        if now.server_error or now.bad_json or now.drop or now.stall:
            raise TransientSourceError(self.name, f"{what}: simulated connection fault")
        if now.rate_limit:
            raise RateLimitedError(self.name, f"{what}: over quota", wait_s=30)
        if now.auth:
            raise FatalSourceError(self.name, f"{what}: not allowed")
        result = super()._call(what, fetch)
        if now.garbage and isinstance(result, list) and result and hasattr(result[0], "high"):
            first = result[0]
            result = [first.__class__(**{**_fields(first), "high": first.low / 2}), *result[1:]]
        return result


def _fields(bar):  # type: ignore[no-untyped-def]
    return {name: getattr(bar, name) for name in bar.__slots__}


@pytest.fixture(scope="module")
def market():
    return sim_market(SEED, STOCKS)


@pytest.fixture
def faults():
    return Faults()


@pytest.fixture
def source(faults):
    return FaultySim(faults)


class TestSimContract(SourceContract):
    BUG_TARGET = "stocksync.sim.market.SimMarket.bars_for_code"
    CODES = ("605685.SH", "688017.SH", "000945.SZ", "002766.SZ", "300002.SZ", "920047.BJ")
    TIMEOUT_S = 1.0
    COMPARED = (*SourceContract.COMPARED, "turnover_pct", "trade_status", "is_st")
