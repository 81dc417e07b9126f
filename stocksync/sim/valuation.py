"""Daily valuation of the simulated market, derived from its bars and factors.

Shares outstanding grow with the cumulative factor (bonus issues); each stock has fixed trailing
earnings and book value, so P/E and P/B move with the price. About one stock in ten is
loss-making: its P/E is None, as real sources report it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from stocksync.domain import AdjFactor, Bar, Valuation
from stocksync.sim.params import rng_for

VALUATION_TAG = 97


class ValuationModel:
    """Per-stock constants for ``codes`` (in code order), keyed by the market's seed."""

    def __init__(self, seed: int, codes: list[str]) -> None:
        rng = rng_for(seed, VALUATION_TAG)
        n = len(codes)
        self.index = {code: i for i, code in enumerate(codes)}
        self.shares = np.rint(rng.uniform(0.2e9, 12e9, n) / 100) * 100  # at factor 1.0
        self.float_share = rng.uniform(0.35, 1.0, n)
        self.earnings_yield = rng.uniform(1 / 80, 1 / 8, n)  # on the model's reference value
        self.loss_making = rng.random(n) < 0.1
        self.book_ratio = rng.uniform(0.6, 9.0, n)  # price-to-book at the reference value
        self.reference_price = rng.uniform(5.0, 60.0, n)

    def value(self, bar: Bar, factor: float) -> Valuation:
        """The valuation on ``bar``'s day, given that day's cumulative factor."""
        i = self.index[bar.code]
        shares = self.shares[i] * factor
        total = round(float(bar.close * shares), 2)
        circulating = round(float(bar.close * shares * self.float_share[i]), 2)
        reference = float(self.reference_price[i] * self.shares[i])
        earnings = reference * float(self.earnings_yield[i])
        book = reference / float(self.book_ratio[i])
        pe = None if self.loss_making[i] else round(total / earnings, 4)
        return Valuation(bar.code, bar.trade_date, pe, round(total / book, 4), total, circulating)

    def values(
        self, bars: Iterable[Bar], factors: Mapping[tuple[str, object], float]
    ) -> list[Valuation]:
        """Valuations of the trading (not suspended) days among ``bars``."""
        return [
            self.value(bar, factors[(bar.code, bar.trade_date)])
            for bar in bars
            if bar.trade_status == 1
        ]


def factor_map(factors: Iterable[AdjFactor]) -> dict[tuple[str, object], float]:
    return {(f.code, f.trade_date): f.factor for f in factors}
