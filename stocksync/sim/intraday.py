"""Intraday bars of the simulated market: 48 five-minute bars per trading day that give back the
day's bar exactly, and their aggregation to 15, 30 and 60 minutes.

Each day is a pure function of ``(seed, its daily Bar)``, in integer cents and shares, one row
per stock-day, vectorised over rows (every row depends only on itself: a stock's bars are the
same asked alone or with the whole market).

- **Path.** The 49 points ``P0 … P48`` (``P0`` the first bar's open, ``Pk`` bar ``k``'s close and
  bar ``k+1``'s open: the path is continuous across the lunch break too) pass through four knots:
  ``P0`` = open, ``P48`` = close, and the day's high and low at two distinct, keyed times in
  between (more often near the open or the close). Between knots runs a Brownian bridge around
  the straight line, clipped to [low, high] and rounded to cents. A bar's high (low) adds a keyed
  wick to the larger (smaller) of its open and close, clipped to the day's range. So the first
  open, the last close, the highest high and the lowest low are the day's, exactly.
- **Volume.** A U-shaped profile (heavy open, lighter midday, a bump after lunch, a ramp to the
  close) times keyed noise times a preference for bars trading near the day's VWAP; the day's
  lots are shared out by largest remainder (exact integers), odd shares to the heaviest bar.
- **Amount and the VWAP bound.** Bar ``k`` may carry any amount in ``[v_k*low_k, v_k*high_k]``
  cents, so its amount/volume lies within its range; the day is feasible when these bounds
  summed straddle the day's amount. The path runs bar by bar from the high to the low, so the
  bars between cover [low, high] with their [min(open, close), max(open, close)]: some bar's
  range holds the day's VWAP ``D`` (a *straddling* bar), and volume put on straddling bars only
  is always feasible. When the profile's volumes are not (the volume-weighted lows above the
  VWAP, say), their weights are mixed with those of the bars on the needed side (here the bars
  whose low is at most the VWAP) just enough, plus a small margin for rounding to lots: the
  constraint is linear in the mix, and where the lows' mean meets the VWAP the highs' mean,
  never below it, still covers it. Should that still miss (about 2 % of days), the weights
  are mixed with the straddling bars' instead, at worst all of them. Each bar then starts
  at volume × its typical price, and the difference to the day's amount is shared out in
  proportion to each bar's room toward its high (or low), exactly to the cent.
- **Relaxation.** Only a bar the simulated market never makes (amount/volume outside
  [low, high], or no volume but an amount) gets amounts split in proportion to volume: the sums
  stay exact, the per-bar bound may fail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from stocksync.domain import Bar, MinuteBar, Period
from stocksync.sim.events import unit_hash
from stocksync.sim.universe import mix64

BARS = 48  # five-minute bars per day
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MASK16 = np.uint64(0xFFFF)
_SCALE = 1 << 20  # resolution of the mixed volume weights
_MARGINS = (0.0, 0.1, 0.3, 1.0)  # extra mix toward straddling bars, the last one all of it
WALK, HIGH_T, LOW_T, SIGMA, WICK_HI, WICK_LO, NOISE = range(7)


@dataclass(frozen=True, eq=False)
class Intraday:
    """Bars as ``(rows, bars per day)`` int64 arrays: prices and amounts in cents, volume in
    shares."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    amount: np.ndarray


@cache
def bar_times(period: Period) -> tuple[dt.time, ...]:
    """The minutes the bars of an intraday ``period`` end, in order (09:35 … 15:00 for 5min)."""
    minutes = period.minutes
    if minutes is None:
        raise ValueError(f"{period} is not an intraday period")
    ends = [570 + 5 * i for i in range(1, 25)] + [780 + 5 * i for i in range(1, 25)]
    step = minutes // 5
    return tuple(dt.time(m // 60, m % 60) for m in ends[step - 1 :: step])


def minute_bars(seed: int, bars: Sequence[Bar], period: Period) -> list[MinuteBar]:
    """The ``period`` bars of every daily bar in ``bars``, in their order and then by time; a
    suspended day (``trade_status == 0``) has none. ``ValueError`` for a period that is not
    intraday."""
    period = Period(period)
    traded = [b for b in bars if b.trade_status != 0]
    times = bar_times(period)  # raises for a non-intraday period
    if not traded:
        return []
    five = five_minute(seed, traded)
    v = five if period is Period.MIN5 else aggregate(five, period)
    stamps: dict[dt.date, list[dt.datetime]] = {}
    for b in traded:
        if b.trade_date not in stamps:
            stamps[b.trade_date] = [dt.datetime.combine(b.trade_date, t) for t in times]
    when = [stamp for b in traded for stamp in stamps[b.trade_date]]
    codes = [b.code for b in traded for _ in times]

    def yuan(a: np.ndarray) -> list[float]:
        return [x / 100 for x in a.ravel().tolist()]

    columns = zip(
        codes,
        when,
        yuan(v.open),
        yuan(v.high),
        yuan(v.low),
        yuan(v.close),
        v.volume.ravel().tolist(),
        yuan(v.amount),
        strict=True,
    )
    return [
        MinuteBar(code, period, t, o, h, lo, c, vol, amt)
        for code, t, o, h, lo, c, vol, amt in columns
    ]


def aggregate(five: Intraday, period: Period) -> Intraday:
    """Five-minute bars merged into ``period`` bars: first open, max high, min low, last close,
    summed volume and amount. No merged bar spans the lunch break."""
    minutes = period.minutes
    if minutes is None or minutes % 5 or BARS % (minutes // 5):
        raise ValueError(f"cannot build {period} bars from five-minute bars")
    step = minutes // 5

    def group(a: np.ndarray) -> np.ndarray:
        return a.reshape(a.shape[0], -1, step)

    return Intraday(
        open=group(five.open)[:, :, 0],
        high=group(five.high).max(axis=2),
        low=group(five.low).min(axis=2),
        close=group(five.close)[:, :, -1],
        volume=group(five.volume).sum(axis=2),
        amount=group(five.amount).sum(axis=2),
    )


def five_minute(seed: int, bars: Sequence[Bar]) -> Intraday:
    """The 48 five-minute bars of each traded daily bar in ``bars`` (see the module docstring)."""
    n = len(bars)

    def cents(values: list[float]) -> np.ndarray:
        return np.rint(np.array(values, dtype=np.float64) * 100.0).astype(np.int64)

    day_open = cents([b.open for b in bars])
    day_high = cents([b.high for b in bars])
    day_low = cents([b.low for b in bars])
    day_close = cents([b.close for b in bars])
    volume = np.array([b.volume for b in bars], dtype=np.int64)
    amount = cents([b.amount for b in bars])
    keys = np.array(
        [int(unit_hash(seed, b.code, b.trade_date.isoformat(), "intraday") * 2**64) for b in bars],
        dtype=np.uint64,
    ).reshape(n, 1)

    path = _path(keys, day_open, day_high, day_low, day_close)
    o, c = path[:, :-1], path[:, 1:]
    span = (day_high - day_low)[:, None].astype(np.float64)
    wick_hi = np.floor(np.abs(_normal(keys, WICK_HI)) * span * 0.04).astype(np.int64)
    wick_lo = np.floor(np.abs(_normal(keys, WICK_LO)) * span * 0.04).astype(np.int64)
    high = np.minimum(np.maximum(o, c) + wick_hi, day_high[:, None])
    low = np.maximum(np.minimum(o, c) - wick_lo, day_low[:, None])
    typical = np.rint((o + high + low + c) / 4.0).astype(np.int64)

    vols = _volumes(keys, volume, amount, high, low, typical)
    return Intraday(o, high, low, c, vols, _amounts(amount, vols, high, low, typical))


def _bits(keys: np.ndarray, stream: int, width: int = BARS) -> np.ndarray:
    """64 keyed random bits per (row, column) on ``stream``: SplitMix64, stateless."""
    k = mix64(keys + np.uint64((stream + 1) * 0x2545F4914F6CDD1D % (1 << 64)))
    return mix64(k + np.arange(width, dtype=np.uint64)[None, :] * _GOLDEN)


def _uniform(keys: np.ndarray, stream: int, width: int = BARS) -> np.ndarray:
    return (_bits(keys, stream, width) >> np.uint64(11)).astype(np.float64) / 2.0**53


def _normal(keys: np.ndarray, stream: int) -> np.ndarray:
    """Unit-variance Irwin-Hall(4) variates, one per (row, bar)."""
    bits = _bits(keys, stream)
    total = np.zeros(bits.shape, dtype=np.float64)
    for shift in (0, 16, 32, 48):
        total += ((bits >> np.uint64(shift)) & _MASK16).astype(np.float64)
    return ((total + 2.0) / 65536.0 - 2.0) * np.sqrt(3.0)


def _path(
    keys: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray
) -> np.ndarray:
    """The 49 price points of each row: open, the 48 closes; through the day's high and low."""
    n = o.size

    def when(stream: int) -> np.ndarray:  # 1..47, more often near either end
        u = _uniform(keys, stream, 1)[:, 0]
        return 1 + np.minimum(46, np.floor(47 * (1 - np.cos(np.pi * u)) / 2)).astype(np.int64)

    t_high, t_low = when(HIGH_T), when(LOW_T)
    t_low = np.where(t_low == t_high, np.where(t_low < 47, t_low + 1, t_low - 1), t_low)
    first = np.minimum(t_high, t_low)
    knots = np.stack([np.zeros(n, np.int64), first, np.maximum(t_high, t_low),
                      np.full(n, BARS, np.int64)], axis=1)  # fmt: skip
    values = np.stack([o, np.where(first == t_high, h, lo), np.where(first == t_high, lo, h), c],
                      axis=1).astype(np.float64)  # fmt: skip

    t = np.arange(BARS + 1, dtype=np.int64)[None, :]
    seg = (t >= knots[:, 1:2]).astype(np.int64) + (t >= knots[:, 2:3])
    seg = np.minimum(seg, 2)
    left = np.take_along_axis(knots, seg, axis=1)
    right = np.take_along_axis(knots, seg + 1, axis=1)
    w = (t - left) / (right - left)
    v0, v1 = np.take_along_axis(values, seg, axis=1), np.take_along_axis(values, seg + 1, axis=1)
    line = v0 + w * (v1 - v0)

    span = (h - lo).astype(np.float64)[:, None]
    sigma = span * (0.08 + 0.12 * _uniform(keys, SIGMA, 1))
    walk = np.zeros((n, BARS + 1), dtype=np.float64)
    walk[:, 1:] = np.cumsum(_normal(keys, WALK) * sigma, axis=1)
    w0, w1 = np.take_along_axis(walk, left, axis=1), np.take_along_axis(walk, right, axis=1)
    bridge = walk - (w0 + w * (w1 - w0))
    path = np.rint(np.clip(line + bridge, lo[:, None], h[:, None])).astype(np.int64)
    np.put_along_axis(path, knots, values.astype(np.int64), axis=1)  # exact at the knots
    return path


@cache
def _profile() -> np.ndarray:
    """The U-shaped intraday volume profile over the 48 bars."""
    k = np.arange(BARS, dtype=np.float64)
    after_lunch = np.where(k >= BARS // 2, np.exp(-(k - BARS // 2) / 2.0), 0.0)
    return 1.0 + 2.2 * np.exp(-k / 3.0) + 0.3 * after_lunch + 0.9 * np.exp(-(BARS - 1 - k) / 4.0)


def _volumes(
    keys: np.ndarray,
    volume: np.ndarray,
    amount: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    typical: np.ndarray,
) -> np.ndarray:
    """Each bar's shares: the profile's, mixed toward cheaper (dearer) bars as far as the VWAP
    bound needs, else toward straddling bars (see the module docstring)."""
    vol, total = volume[:, None], amount[:, None]
    vwap = amount / np.maximum(volume, 1)
    span = (high.max(axis=1) - low.min(axis=1)).astype(np.float64)
    near = np.exp(-(((typical - vwap[:, None]) / (0.2 * span[:, None] + 1.0)) ** 2))
    noise = 0.6 + 0.8 * _uniform(keys, NOISE)
    weight = np.maximum(1, np.rint(_profile() * noise * (0.2 + near) * 4096.0)).astype(np.int64)
    cheap, dear = low * vol <= total, high * vol >= total
    valid = (volume > 0) & (cheap & dear).any(axis=1)
    side = np.where((_mean(weight, low) > vwap)[:, None], cheap, dear)
    toward_side = np.where(side | ~valid[:, None], weight, 0)
    toward_straddle = np.where(cheap & dear | ~valid[:, None], weight, 0)
    need, room = _mix_needed(weight, toward_side, low, high, vwap)
    side_mix = need + np.minimum(0.05, (room - need) / 2)
    straddle_need = _mix_needed(weight, toward_straddle, low, high, vwap)[0]
    attempts = [(toward_side, side_mix)] + [
        (toward_straddle, np.minimum(1.0, straddle_need + margin)) for margin in _MARGINS
    ]

    shares = np.zeros_like(high)
    todo = np.ones(volume.size, dtype=bool)
    for target, mix in attempts:
        w, t, m = weight[todo], target[todo], np.where(valid, mix, 0.0)[todo, None]
        mixed = (1 - m) * w / w.sum(axis=1, keepdims=True) + m * t / t.sum(axis=1, keepdims=True)
        got = _split(volume[todo], np.rint(mixed * _SCALE).astype(np.int64))
        shares[todo] = got
        fits = ((got * low[todo]).sum(axis=1) <= amount[todo]) & (
            amount[todo] <= (got * high[todo]).sum(axis=1)
        )
        todo[np.flatnonzero(todo)[fits | ~valid[todo]]] = False
        if not todo.any():
            break
    return shares


def _mean(weight: np.ndarray, price: np.ndarray) -> np.ndarray:
    return (weight * price).sum(axis=1) / weight.sum(axis=1)


def _mix_needed(
    weight: np.ndarray, target: np.ndarray, low: np.ndarray, high: np.ndarray, vwap: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The least share ``need`` of the day's volume to move from ``weight``'s split to
    ``target``'s for the volume-weighted lows to reach down to (highs up to) the VWAP, and the
    most ``room`` before the other side breaks; 0 and 1 where nothing is needed."""
    lo_w, hi_w = _mean(weight, low), _mean(weight, high)
    lo_t, hi_t = _mean(target, low), _mean(target, high)
    with np.errstate(divide="ignore", invalid="ignore"):
        too_dear = lo_w > vwap  # move volume to cheaper bars: the lows' mean falls
        too_cheap = hi_w < vwap
        need = np.where(too_dear, (lo_w - vwap) / (lo_w - lo_t), 0.0)
        need = np.where(too_cheap, (vwap - hi_w) / (hi_t - hi_w), need)
        room = np.where(too_dear & (hi_t < vwap), (hi_w - vwap) / (hi_w - hi_t), 1.0)
        room = np.where(too_cheap & (lo_t > vwap), (vwap - lo_w) / (lo_t - lo_w), room)
    ok = np.isfinite(need) & np.isfinite(room)
    return np.where(ok, np.clip(need, 0.0, 1.0), 0.0), np.where(ok, np.clip(room, 0.0, 1.0), 1.0)


def _split(volume: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``volume`` shares per row shared out in lots of 100 by largest remainder over
    ``weight``; the odd shares go to the heaviest bar. Exact integers."""
    lots, odd = volume // 100, volume % 100
    total = weight.sum(axis=1, keepdims=True)
    scaled = lots[:, None] * weight
    got, rest = scaled // total, scaled % total
    short = lots - got.sum(axis=1)  # < the number of bars with a remainder
    order = np.argsort(-rest, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(BARS)[None, :].repeat(len(lots), 0), axis=1)
    got = (got + (rank < short[:, None])) * 100
    heaviest = weight.argmax(axis=1)[:, None]
    np.put_along_axis(got, heaviest, np.take_along_axis(got, heaviest, 1) + odd[:, None], 1)
    return got


def _amounts(
    amount: np.ndarray, vols: np.ndarray, high: np.ndarray, low: np.ndarray, typical: np.ndarray
) -> np.ndarray:
    """Each bar's amount in cents: volume × typical price, moved toward the bar's high (low) in
    proportion to its room until the day's amount is met; within ``[v*low, v*high]`` whenever
    the volumes allow it (see the module docstring)."""
    base = vols * typical
    gap = amount - base.sum(axis=1)
    room = np.where(gap[:, None] >= 0, vols * (high - typical), vols * (typical - low))
    feasible = np.abs(gap) <= room.sum(axis=1)
    out = base + np.sign(gap)[:, None] * _fill(np.abs(gap), room)
    if feasible.all():
        return out
    bad = ~feasible  # relaxation: split in proportion to volume (or evenly without volume)
    v = vols[bad]
    total = amount[bad]
    per = np.where(v.sum(axis=1, keepdims=True) > 0, v, 1)
    caps = per * (total // per.sum(axis=1) + 1)[:, None]
    out[bad] = _fill(total, caps)
    return out


def _fill(total: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Integers ``0 <= x <= caps`` per row summing to ``total`` (at most the caps' sum), close to
    proportional to the caps: a floored share, then the few cents left over in bar order."""
    room = caps.sum(axis=1)
    share = np.where(room > 0, total / np.maximum(room, 1), 0.0)
    x = np.minimum(caps, np.floor(caps * share[:, None]).astype(np.int64))
    left = total - x.sum(axis=1)  # a few units either way (float rounding)
    slack = np.where(left[:, None] >= 0, caps - x, x)
    before = np.cumsum(slack, axis=1) - slack
    step = np.clip(np.abs(left)[:, None] - before, 0, slack)
    return x + np.sign(left)[:, None] * step
