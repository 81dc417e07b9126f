"""Per-bar sanity checks. A bar that fails is reported with its reason and never stored."""

from __future__ import annotations

import math

from stocksync.domain import Bar

VWAP_TOLERANCE = 0.02  # amount / volume may sit 2 % outside [low, high] (rounding, odd lots)


def _bad_number(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def row_problem(bar: Bar) -> str | None:
    """Why ``bar`` cannot be stored, or None when it is sound."""
    prices = {"open": bar.open, "high": bar.high, "low": bar.low, "close": bar.close}
    for name, value in prices.items():
        if _bad_number(value):
            return f"{name} is missing or not a number"
        if value <= 0:
            return f"{name} {value} is not a positive price"
    if bar.pre_close is not None and (_bad_number(bar.pre_close) or bar.pre_close <= 0):
        return f"pre_close {bar.pre_close} is not a positive price"
    if bar.high < bar.low:
        return f"high {bar.high} < low {bar.low}"
    if not bar.low <= bar.open <= bar.high:
        return f"open {bar.open} outside [low {bar.low}, high {bar.high}]"
    if not bar.low <= bar.close <= bar.high:
        return f"close {bar.close} outside [low {bar.low}, high {bar.high}]"
    if _bad_number(bar.amount) or bar.amount < 0:
        return f"amount {bar.amount} is negative or not a number"
    if bar.volume < 0:
        return f"volume {bar.volume} is negative"
    if bar.volume > 0 and bar.amount > 0:
        vwap = bar.amount / bar.volume
        lo, hi = bar.low * (1 - VWAP_TOLERANCE), bar.high * (1 + VWAP_TOLERANCE)
        if not lo <= vwap <= hi:
            return (
                f"amount/volume {vwap:.4f} outside [low, high] = [{bar.low}, {bar.high}]: "
                "volume or amount is in the wrong unit (lots vs shares, thousands vs yuan?)"
            )
    for name in ("turnover_pct", "pct_chg"):
        value = getattr(bar, name)
        if value is not None and isinstance(value, float) and not math.isfinite(value):
            return f"{name} is not a number"
    return None
