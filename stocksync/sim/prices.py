"""The stateless price model: any (stock, session) is evaluated in O(K), vectorised over pairs.

For stock ``s`` at stock time ``tau`` (session index minus the stock's suspended sessions so far)
the hfq log close is::

    L(s, tau) = base + drift * tau + sum_k amp_k * sin(2 pi (tau * freq_k + phase_k) / 2**16)
                + sigma(tau) * e(s, tau)

where the sine is a table lookup (integer phases, so it is exact), ``e`` is an Irwin-Hall(4)
variate from a counter-based hash of (stock key, tau) with ``|e| < 2 sqrt 3``, and ``sigma`` is
smaller on and just before ST days. Coefficients are chosen (universe.py) so ``|L(tau) -
L(tau-1)|`` stays below the price limit minus a rounding margin: the close never needs clamping,
so ``pre_close`` is always exactly the previous close. Raw close = hfq close / cumulative factor.
Every price is computed in integer cents, so aggregation and comparison are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from stocksync.sim.params import N_SINES, ST_LIMIT, TABLE_BITS
from stocksync.sim.universe import Universe, ex_key, mix64

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_STREAM = 0xD1B54A32D192ED03
_MASK16 = np.uint64(0xFFFF)
_SQRT3 = math.sqrt(3.0)
NOISE, OPEN_W, OPEN_E, HIGH_E, LOW_E, TURN_E = range(6)


@cache
def _sine_table() -> np.ndarray:
    n = 1 << TABLE_BITS
    return np.sin(np.arange(n, dtype=np.float64) * (2 * math.pi / n))


def _hash(key: np.ndarray, t: np.ndarray, stream: int) -> np.ndarray:
    """64 random bits for each (key, t) on ``stream``: a SplitMix64 output, stateless."""
    k = mix64(key + np.uint64(((stream + 1) * _STREAM) % (1 << 64)))
    return mix64(k + t.astype(np.int64).view(np.uint64) * _GOLDEN)


def _irwin_hall(bits: np.ndarray) -> np.ndarray:
    """A unit-variance, roughly normal variate in (-2 sqrt 3, 2 sqrt 3) from 64 bits."""
    total = np.zeros(bits.shape, dtype=np.float64)
    for shift in (0, 16, 32, 48):
        total += ((bits >> np.uint64(shift)) & _MASK16).astype(np.float64)
    return ((total + 2.0) / 65536.0 - 2.0) * _SQRT3


def _uniform32(bits: np.ndarray, high: bool) -> np.ndarray:
    part = bits >> np.uint64(32) if high else bits & np.uint64(0xFFFFFFFF)
    return part.astype(np.float64) / 4294967296.0


def _any_within(t: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    col = t[:, None]
    return np.any((col >= lo) & (col < hi), axis=1)


@dataclass(frozen=True, eq=False)
class Daily:
    """Daily values for parallel arrays of (stock row, session); prices in cents (int64)."""

    listed: np.ndarray
    suspended: np.ndarray
    is_st: np.ndarray
    factor: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    pre_close: np.ndarray
    volume: np.ndarray  # shares
    amount: np.ndarray  # cents
    turnover: np.ndarray  # units of 0.0001 %


def _log_hfq(
    u: Universe, s: np.ndarray, tau: np.ndarray, calm_now: np.ndarray, calm_prev: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The model's log hfq close at stock times ``tau`` and ``tau - 1``."""
    table = _sine_table()
    mask = (1 << TABLE_BITS) - 1
    amp, freq = u.amp[s], u.freq[s]
    steps = tau[:, None] * freq + u.phase[s]
    waves_now, waves_prev = amp * table[steps & mask], amp * table[(steps - freq) & mask]
    base, drift, key = u.base[s], u.drift[s], u.key[s]
    out = []
    for t, waves, calm in ((tau, waves_now, calm_now), (tau - 1, waves_prev, calm_prev)):
        acc = base + drift * t
        for k in range(N_SINES):  # a fixed, elementwise summation order: same bits in any layout
            acc = acc + waves[:, k]
        sigma = np.where(calm, u.sigma_st[s], u.sigma[s])
        out.append(acc + sigma * _irwin_hall(_hash(key, t, NOISE)))
    return out[0], out[1]


def _factor_pair(u: Universe, s: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Factors on sessions ``g`` and ``g - 1``: the count of ex-dates up to each session, found
    by binary search in the flattened, sorted ex-date keys."""
    width = u.ex_g.shape[1]
    wanted = ex_key(s, g)
    pos = np.searchsorted(u.ex_keys, wanted, side="right")
    on_ex = u.ex_keys[np.maximum(pos - 1, 0)] == wanted
    count = pos - s * width
    return u.cum_factor[s, count], u.cum_factor[s, count - on_ex]


def factors(u: Universe, s: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The cumulative hfq factor of stock rows ``s`` on sessions ``g``."""
    return _factor_pair(u, np.asarray(s, dtype=np.int64), np.asarray(g, dtype=np.int64))[0]


def evaluate(u: Universe, s: np.ndarray, g: np.ndarray) -> Daily:
    """Daily bars for each pair ``(s[i], g[i])``; each pair depends only on itself."""
    s = np.asarray(s, dtype=np.int64)
    g = np.asarray(g, dtype=np.int64)
    listed = (u.first_g[s] <= g) & (g < u.end_g[s])
    starts, lengths = u.susp_start[s], u.susp_len[s]
    suspended = _any_within(g, starts, starts + lengths)
    tau = g - np.clip(g[:, None] - starts, 0, lengths).sum(axis=1)

    factor, factor_prev = _factor_pair(u, s, g)
    lo, hi = u.st_lo[s], u.st_hi[s]
    is_st = _any_within(tau, lo, hi)
    calm = _any_within(tau, lo - 1, hi)  # on or just before ST days: smaller moves
    sigma_now = np.where(calm, u.sigma_st[s], u.sigma[s])
    log_now, log_prev = _log_hfq(u, s, tau, calm, _any_within(tau - 1, lo - 1, hi))

    # at least one cent: only rows where the stock is not listed could come out lower
    close = np.maximum(1.0, np.rint(np.exp(log_now) / factor * 100.0))
    prev = np.maximum(1.0, np.rint(np.exp(log_prev) / factor_prev * 100.0))
    pre = np.where(factor != factor_prev, np.rint(prev / (factor / factor_prev)), prev)
    limit = np.where(is_st, ST_LIMIT, u.limit[s])
    up, down = np.rint(pre * (1.0 + limit)), np.rint(pre * (1.0 - limit))

    key = u.key[s]
    w_bits = _hash(key, g, OPEN_W)
    move = close / pre - 1.0
    alpha = 0.1 + 0.4 * _uniform32(w_bits, high=True)
    opening = pre * (1.0 + alpha * move + 0.4 * sigma_now * _irwin_hall(_hash(key, g, OPEN_E)))
    opening = np.clip(np.rint(opening), down, up)
    top, bottom = np.maximum(opening, close), np.minimum(opening, close)
    spread_hi = np.abs(_irwin_hall(_hash(key, g, HIGH_E)))
    spread_lo = np.abs(_irwin_hall(_hash(key, g, LOW_E)))
    high = np.clip(np.rint(top * (1.0 + 0.6 * sigma_now * spread_hi)), top, up)
    low = np.clip(np.rint(bottom * (1.0 - 0.6 * sigma_now * spread_lo)), down, bottom)

    shares = u.float_shares[s] * factor
    turn = u.turn_base[s] * (1.0 + 0.25 * _irwin_hall(_hash(key, g, TURN_E)))
    turn = np.clip(turn * (1.0 + 6.0 * np.abs(move)), 0.12, 19.5)
    volume = np.maximum(1.0, np.rint(shares * turn / 1e4)) * 100.0
    vwap = low + (0.25 + 0.5 * _uniform32(w_bits, high=False)) * (high - low)
    amount = np.rint(volume * vwap)
    turnover = np.rint(volume / shares * 1e6)

    def traded(values: np.ndarray, halted: np.ndarray | float) -> np.ndarray:
        return np.where(suspended, halted, values).astype(np.int64)

    return Daily(
        listed=listed,
        suspended=suspended,
        is_st=is_st,
        factor=factor,
        open=traded(opening, prev),
        high=traded(high, prev),
        low=traded(low, prev),
        close=traded(close, prev),
        pre_close=traded(pre, prev),
        volume=traded(volume, 0.0),
        amount=traded(amount, 0.0),
        turnover=traded(turnover, 0.0),
    )


@dataclass(frozen=True, eq=False)
class Aggregate:
    """One weekly/monthly bar per column; ``keep`` says which columns have a bar."""

    keep: np.ndarray
    is_st: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    pre_close: np.ndarray
    volume: np.ndarray
    amount: np.ndarray
    turnover: np.ndarray


def aggregate(d: Daily, rows: int) -> Aggregate:
    """Aggregate daily values laid out as ``(rows, columns)``: a column is one period of one
    stock, its last row the period-end session, with unlisted padding rows at the top.

    A column has a bar when the stock is listed on the period-end session and traded on at least
    one day of the period. Integer sums make the result independent of the layout.
    """

    def grid(a: np.ndarray) -> np.ndarray:
        return a.reshape(rows, -1)

    listed = grid(d.listed)
    valid = listed & ~grid(d.suspended)
    cols = np.arange(listed.shape[1])
    last = rows - 1
    first_valid = valid.argmax(axis=0)
    last_valid = last - valid[::-1].argmax(axis=0)
    first_listed = listed.argmax(axis=0)
    last_listed = last - listed[::-1].argmax(axis=0)
    big = np.iinfo(np.int64).max

    def total(a: np.ndarray) -> np.ndarray:
        return np.where(valid, grid(a), 0).sum(axis=0)

    return Aggregate(
        keep=valid.any(axis=0) & listed[last],
        is_st=grid(d.is_st)[last_listed, cols],
        open=grid(d.open)[first_valid, cols],
        high=np.where(valid, grid(d.high), -1).max(axis=0),
        low=np.where(valid, grid(d.low), big).min(axis=0),
        close=grid(d.close)[last_valid, cols],
        pre_close=grid(d.pre_close)[first_listed, cols],
        volume=total(d.volume),
        amount=total(d.amount),
        turnover=total(d.turnover),
    )
