"""The simulated universe: which stocks exist, when they list and delist, and every per-stock
parameter the price model needs (suspension windows, ST windows, ex-dates, model coefficients).

Everything here is drawn once, vectorised, from numpy generators keyed by ``(seed, purpose)``;
nothing depends on Python's ``hash()`` or on process state. Days are session indexes ``g`` of
the XSHG calendar (:mod:`stocksync.sim.calendar`); ST windows are in *stock time* ``tau`` (the
session index minus the stock's suspended sessions so far), the clock the price model runs on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stocksync.codes import board_of, exchange_of
from stocksync.domain import Security
from stocksync.sim.calendar import SessionCalendar, xshg
from stocksync.sim.params import price_params, rng_for

NEVER = 1 << 40  # padding for "no such window / ex-date"


@dataclass(frozen=True, eq=False)
class _Block:
    lo: int  # first code (as an int)
    hi: int  # last code, inclusive
    share: float  # share of the universe
    first: dt.date  # listing dates spread over [first, last]
    last: dt.date
    skew: float  # >1 puts more listings early in the range


_END = dt.date(2026, 12, 31)
_BLOCKS = (
    _Block(600000, 603999, 0.29, dt.date(1992, 1, 1), dt.date(2019, 12, 31), 1.3),
    _Block(605000, 605999, 0.02, dt.date(2020, 1, 1), _END, 1.0),
    _Block(688000, 688999, 0.11, dt.date(2019, 7, 22), _END, 1.0),
    _Block(1, 999, 0.09, dt.date(1991, 1, 1), dt.date(2004, 12, 31), 1.0),
    _Block(1000, 1999, 0.01, dt.date(2018, 1, 1), _END, 1.0),
    _Block(2001, 2999, 0.17, dt.date(2004, 6, 25), dt.date(2021, 4, 6), 1.2),
    _Block(3000, 3999, 0.01, dt.date(2020, 1, 1), _END, 1.0),
    _Block(300001, 300999, 0.18, dt.date(2009, 10, 30), dt.date(2021, 12, 31), 1.2),
    _Block(301000, 301999, 0.08, dt.date(2020, 8, 24), _END, 1.0),
    _Block(920000, 920999, 0.04, dt.date(2021, 11, 15), _END, 1.0),
)


@dataclass(frozen=True, eq=False)
class Universe:
    """The stocks (sorted by code) and their parameters, one row per stock."""

    seed: int
    securities: tuple[Security, ...]
    index: dict[str, int]  # code -> row
    first_g: np.ndarray  # first session listed (0 for stocks listed before 2005)
    end_g: np.ndarray  # first session no longer listed (NEVER when still listed)
    susp_start: np.ndarray  # (n, WS) session of each suspension window's first day
    susp_len: np.ndarray  # (n, WS) sessions in the window (0 = padding)
    ex_g: np.ndarray  # (n, WE) ex-date sessions, ascending (NEVER = padding)
    ex_keys: np.ndarray  # ex_g flattened as (row << 32) + session: one sorted array
    cum_factor: np.ndarray  # (n, WE + 1) factor after j ex-dates, [:, 0] == 1.0
    ex_cash: np.ndarray  # (n, WE) the cash-dividend part of each ex-date's ratio (1.0: none)
    ex_bonus: np.ndarray  # (n, WE) its bonus-share part: 1 + new shares per share (1.0: none)
    st_lo: np.ndarray  # (n, WT) ST windows [st_lo, st_hi) in stock time
    st_hi: np.ndarray
    key: np.ndarray  # uint64 per-stock hash key
    base: np.ndarray  # log-price level
    drift: np.ndarray  # log-price drift per stock-time day
    amp: np.ndarray  # (n, K) sinusoid amplitudes
    freq: np.ndarray  # (n, K) sinusoid frequencies, in table steps per day
    phase: np.ndarray  # (n, K) sinusoid phases, in table steps
    sigma: np.ndarray  # noise scale on normal days
    sigma_st: np.ndarray  # noise scale around ST days
    limit: np.ndarray  # board price limit (0.10 / 0.20 / 0.30)
    float_shares: np.ndarray  # tradable shares before any bonus issue
    turn_base: np.ndarray  # typical daily turnover, percent


def _allocate(n: int) -> list[int]:
    caps = [b.hi - b.lo + 1 for b in _BLOCKS]
    if n < len(_BLOCKS) or n > sum(caps):
        raise ValueError(f"n_stocks must be between {len(_BLOCKS)} and {sum(caps)}, got {n}")
    rest = n - len(_BLOCKS)
    counts = [1 + min(cap - 1, int(rest * b.share)) for b, cap in zip(_BLOCKS, caps, strict=True)]
    order = sorted(range(len(_BLOCKS)), key=lambda i: -_BLOCKS[i].share)
    while sum(counts) < n:
        for i in order:
            if sum(counts) < n and counts[i] < caps[i]:
                counts[i] += 1
    return counts


def _snap(day: dt.date, cal: SessionCalendar) -> tuple[dt.date, int]:
    """A listing date and its first session: a session from 2005 on, else a weekday."""
    if day >= dt.date(2005, 1, 1):
        g = min(cal.first_at_or_after(day), len(cal) - 1)
        return cal.days[g], g
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day, 0


def _listings(
    seed: int, n: int, cal: SessionCalendar
) -> tuple[list[str], list[dt.date], list[int]]:
    """Codes (sorted), listing dates and first sessions; listing dates follow code order."""
    rng = rng_for(seed, 1)
    codes: list[str] = []
    dates: list[dt.date] = []
    first: list[int] = []
    for block, count in zip(_BLOCKS, _allocate(n), strict=True):
        picks = np.sort(rng.choice(block.hi - block.lo + 1, size=count, replace=False))
        spread = np.sort(rng.random(count)) ** block.skew
        width = (block.last - block.first).days
        for pick, u in zip(picks.tolist(), spread.tolist(), strict=True):
            digits = f"{block.lo + pick:06d}"
            day, g = _snap(block.first + dt.timedelta(days=int(u * width)), cal)
            codes.append(f"{digits}.{exchange_of(digits).value}")
            dates.append(day)
            first.append(g)
    order = sorted(range(n), key=lambda i: codes[i])
    return [codes[i] for i in order], [dates[i] for i in order], [first[i] for i in order]


def _delistings(
    seed: int, dates: list[dt.date], first: list[int], cal: SessionCalendar
) -> list[int]:
    """First unlisted session of each stock: ~3 % of those listed before 2019 delist."""
    rng = rng_for(seed, 2)
    n = len(dates)
    end = [NEVER] * n
    candidates = [i for i in range(n) if dates[i] < dt.date(2019, 1, 1)]
    chosen = rng.choice(len(candidates), size=min(len(candidates), round(0.03 * n)), replace=False)
    late = rng.random(len(chosen)) < 0.4
    spots = rng.random(len(chosen))
    g2008 = cal.first_at_or_after(dt.date(2008, 1, 1))
    g2024 = cal.first_at_or_after(dt.date(2024, 1, 1))
    for c, is_late, u in zip(chosen.tolist(), late.tolist(), spots.tolist(), strict=True):
        i = candidates[c]
        lo = max(first[i] + 500, g2024 if is_late else g2008)
        end[i] = lo + int(u * (len(cal) - lo))
    return end


def _suspensions(rng: np.random.Generator, g0: int, g1: int) -> list[tuple[int, int]]:
    """Zero to two non-overlapping suspension windows inside the sessions [g0, g1]."""
    if g1 - g0 < 80 or rng.random() >= 0.10:
        return []
    windows: list[tuple[int, int]] = []
    for _ in range(1 + int(rng.random() < 0.3)):
        length = int(rng.integers(1, 6)) if rng.random() < 0.65 else int(rng.integers(6, 41))
        start = int(rng.integers(max(g0 + 5, 1), g1 - 45))
        if all(start + length + 3 < s or s + n + 3 < start for s, n in windows):
            windows.append((start, length))
    return sorted(windows)


def _ex_dates(
    rng: np.random.Generator,
    g0: int,
    g1: int,
    windows: list[tuple[int, int]],
    seasons: list[tuple[int, int]],
) -> list[tuple[int, float, float, float]]:
    """Ex-dates (session, ratio > 1, its cash-dividend part, its bonus-share part) in
    [g0 + 20, g1]; none during or right after a suspension. ratio = dividend part × bonus part:
    a dividend of d of the close is a part 1 / (1 - d), m new shares per share a part 1 + m."""
    events: dict[int, float] = {}
    cash: dict[int, float] = {}
    bonus: dict[int, float] = {}
    lo = g0 + 20
    if g1 - lo < 20:
        return []
    p_div = 0.0 if rng.random() < 0.3 else 0.4 + 0.6 * rng.random()
    for s_lo, s_hi in seasons:
        u = rng.random(3)
        if s_lo >= lo and s_hi <= g1 and u[0] < p_div:
            g = s_lo + int(u[1] * (s_hi - s_lo + 1))
            part = 1.0 / (1.0 - (0.003 + 0.037 * u[2]))
            events[g] = events.get(g, 1.0) * part
            cash[g] = cash.get(g, 1.0) * part
    n_bonus = int(rng.choice(3, p=[0.65, 0.25, 0.10]))
    for _ in range(n_bonus):
        g = int(rng.integers(lo, g1 + 1))
        part = float(rng.choice([1.2, 1.3, 1.5, 2.0]))
        events[g] = events.get(g, 1.0) * part
        bonus[g] = bonus.get(g, 1.0) * part
    blocked = {d for s, n in windows for d in range(s, s + n + 1)}
    return sorted(
        (g, r, cash.get(g, 1.0), bonus.get(g, 1.0)) for g, r in events.items() if g not in blocked
    )


def _pad(rows: Sequence[Sequence[float]], fill: float, dtype: type) -> np.ndarray:
    """Ragged rows as a 2-D array, padded on the right with ``fill``."""
    width = max(1, max((len(r) for r in rows), default=0))
    out: np.ndarray = np.full((len(rows), width), fill, dtype=dtype)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def ex_key(row: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Sortable key of (stock row, session); sessions past 2**31 (padding) all map to 2**31."""
    return (row << 32) + np.minimum(g, 1 << 31)


def mix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser, elementwise on uint64 (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def build_universe(seed: int, n_stocks: int) -> Universe:
    """Draw the universe for ``(seed, n_stocks)``; the same arguments give the same universe."""
    cal = xshg()
    codes, list_dates, first = _listings(seed, n_stocks, cal)
    end = _delistings(seed, list_dates, first, cal)
    seasons = []
    for year in range(2005, 2027):
        s_lo = cal.first_at_or_after(dt.date(year, 5, 15))
        seasons.append((s_lo, cal.last_at_or_before(dt.date(year, 7, 31))))

    rng = rng_for(seed, 3)
    susp_rows: list[list[tuple[int, int]]] = []
    ex_rows: list[list[tuple[int, float, float, float]]] = []
    st_rows: list[list[tuple[int, int]]] = []
    tau_first: list[int] = []
    tau_last: list[int] = []
    for i in range(n_stocks):
        g0, g1 = first[i], min(end[i], len(cal)) - 1
        windows = _suspensions(rng, g0, g1)
        susp_rows.append(windows)
        ex_rows.append(_ex_dates(rng, g0, g1, windows, seasons))
        t0, t1 = g0, g1 - sum(n for _, n in windows)
        tau_first.append(t0)
        tau_last.append(t1)
        st: list[tuple[int, int]] = []
        if t1 - t0 > 250 and rng.random() < 0.06:
            a = t0 + 60 + int(rng.random() * (t1 - t0 - 120))
            st.append((a, min(a + int(rng.integers(60, 400)), t1 + 1)))
        if end[i] != NEVER:
            a = max(t0, t1 - int(rng.integers(120, 250)))
            if st and st[0][1] >= a:
                st = [(min(a, st[0][0]), t1 + 1)]
            else:
                st.append((a, t1 + 1))
        st_rows.append(st)

    susp_start = _pad([[s for s, _ in w] for w in susp_rows], NEVER, np.int64)
    susp_len = _pad([[n for _, n in w] for w in susp_rows], 0, np.int64)
    ex_g = _pad([[e[0] for e in row] for row in ex_rows], NEVER, np.int64)
    ratios = _pad([[e[1] for e in row] for row in ex_rows], 1.0, np.float64)
    cum_factor = np.round(np.concatenate([np.ones((n_stocks, 1)), np.cumprod(ratios, 1)], 1), 6)
    st_lo = _pad([[a for a, _ in w] for w in st_rows], NEVER, np.int64)
    st_hi = _pad([[b for _, b in w] for w in st_rows], NEVER, np.int64)
    # stock time of each ex-date: the session minus the suspended sessions before it
    before = ex_g[:, :, None] - susp_start[:, None, :]
    ex_tau = ex_g - np.clip(before, 0, susp_len[:, None, :]).sum(2)

    boards = [board_of(c[:6]) for c in codes]
    params = price_params(seed, boards, ex_tau, ex_g != NEVER, cum_factor, tau_first, tau_last)
    securities = tuple(
        Security(
            code=code,
            name="模拟" + code[:6],
            exchange=exchange_of(code[:6]),
            board=board,
            list_date=list_dates[i],
            delist_date=cal.days[end[i]] if end[i] != NEVER else None,
        )
        for i, (code, board) in enumerate(zip(codes, boards, strict=True))
    )
    digits = np.array([int(c[:6]) for c in codes], dtype=np.uint64)
    seed_key = mix64(np.array([seed % (1 << 64)], dtype=np.uint64))
    return Universe(
        seed=seed,
        securities=securities,
        index={code: i for i, code in enumerate(codes)},
        first_g=np.array(first, dtype=np.int64),
        end_g=np.array(end, dtype=np.int64),
        susp_start=susp_start,
        susp_len=susp_len,
        ex_g=ex_g,
        ex_keys=ex_key(np.arange(n_stocks, dtype=np.int64)[:, None], ex_g).ravel(),
        cum_factor=cum_factor,
        ex_cash=_pad([[e[2] for e in row] for row in ex_rows], 1.0, np.float64),
        ex_bonus=_pad([[e[3] for e in row] for row in ex_rows], 1.0, np.float64),
        st_lo=st_lo,
        st_hi=st_hi,
        key=mix64(seed_key ^ mix64(digits + np.uint64(0x632BE59BD9B4E019))),
        **params,
    )
