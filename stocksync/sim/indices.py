"""The simulated market's main indices: a level per session that is a pure function of
(seed, index, session), like the stocks' prices, so any range costs the same whatever lies
before it.

The level is a slow drift of a few sine waves plus a small hashed daily move; open, high and
low come from hashed offsets around the previous and current close. Levels are in points with
two decimals (what every source can carry exactly); volume is in shares, a whole number of
lots; amount is in yuan, a whole number of thousands, at an average traded share price of a
few yuan to a few tens (so tushare's 手 and 千元 convert back exactly).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math

from stocksync.datasets.indices import MAIN_INDICES, IndexInfo, index_info
from stocksync.domain import IndexBar, Period
from stocksync.sim import calendar

# index code -> (base level, base volume in lots, average traded share price in yuan)
_SCALE = {
    "000001.SH": (3000.0, 300_000_000, 9.0),
    "000016.SH": (2600.0, 40_000_000, 18.0),
    "000300.SH": (3800.0, 120_000_000, 14.0),
    "000905.SH": (5800.0, 110_000_000, 11.0),
    "000852.SH": (6000.0, 150_000_000, 10.0),
    "000688.SH": (1000.0, 8_000_000, 55.0),
    "399001.SZ": (10000.0, 350_000_000, 10.0),
    "399006.SZ": (2000.0, 60_000_000, 25.0),
    "899050.BJ": (1000.0, 3_000_000, 12.0),
}


def _unit(seed: int, code: str, g: int, stream: int) -> float:
    """A uniform number in [0, 1) for (seed, index, session, stream)."""
    digest = hashlib.blake2b(f"{seed}:{code}:{g}:{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _close(seed: int, code: str, g: int) -> float:
    base = _SCALE[code][0]
    phase = _unit(seed, code, 0, 9) * 2 * math.pi
    drift = 0.35 * math.sin(2 * math.pi * g / 1900 + phase) + 0.18 * math.sin(
        2 * math.pi * g / 260 + 2 * phase
    )
    noise = 0.012 * (_unit(seed, code, g, 1) - 0.5)
    return round(base * math.exp(drift + noise), 2)


def _daily(seed: int, code: str, g: int) -> IndexBar:
    days = calendar.xshg().days
    close = _close(seed, code, g)
    pre_close = _close(seed, code, g - 1)
    open_ = round(pre_close * (1 + 0.008 * (_unit(seed, code, g, 2) - 0.5)), 2)
    high = round(max(open_, close) * (1 + 0.01 * _unit(seed, code, g, 3)), 2)
    low = round(min(open_, close) * (1 - 0.01 * _unit(seed, code, g, 4)), 2)
    _, lots, share_price = _SCALE[code]
    volume = int(lots * (0.6 + 0.8 * _unit(seed, code, g, 5))) * 100
    price = share_price * (0.8 + 0.4 * _unit(seed, code, g, 6))
    amount = float(round(volume * price / 1000) * 1000)
    return IndexBar(
        code, Period.DAILY, days[g], open_, high, low, close, pre_close, volume, amount,
        pct_chg=round((close / pre_close - 1) * 100, 4),
    )  # fmt: skip


def _aggregate(period: Period, days: list[IndexBar]) -> IndexBar:
    first, last = days[0], days[-1]
    close, pre_close = last.close, first.pre_close
    return IndexBar(
        last.code, period, last.trade_date, first.open, max(b.high for b in days),
        min(b.low for b in days), close, pre_close, sum(b.volume for b in days),
        sum(b.amount for b in days),
        pct_chg=round((close / pre_close - 1) * 100, 4) if pre_close else None,
    )  # fmt: skip


def sim_index_bars(
    seed: int, code: str, period: Period, start: dt.date, end: dt.date
) -> list[IndexBar]:
    """Bars of the index ``code`` of ``period`` dated within [start, end], from the day the
    index has a value (the later of its ``since`` and the calendar's start)."""
    info: IndexInfo = index_info(code)
    cal = calendar.xshg()
    first_g = max(1, cal.first_at_or_after(info.since))
    out = []
    for g_end in calendar.period_end_indexes(period, max(start, info.since), end):
        g_start = max(first_g, calendar.period_start_index(period, g_end))
        if g_end < first_g:
            continue
        daily = [_daily(seed, code, g) for g in range(g_start, g_end + 1)]
        out.append(daily[0] if period is Period.DAILY else _aggregate(period, daily))
    return out


__all__ = ["MAIN_INDICES", "sim_index_bars"]
