"""Per-stock coefficients of the price model (see :mod:`stocksync.sim.prices`).

They are chosen so that no daily move can reach the price limit: the sinusoids' slopes, the
drift and twice the noise bound add up to at most the limit minus a rounding margin, and the
level is raised where needed so raw prices stay above ``MIN_PRICE``.
"""

from __future__ import annotations

import math

import numpy as np

from stocksync.domain import Board

N_SINES = 12  # sinusoids per stock, the first N_MARKET shared by every stock
N_MARKET = 3
TABLE_BITS = 16  # the sine table has 2**16 entries: phases are exact integers
NOISE_SPAN = 2 * 3.4642  # the noise term is sigma * e with |e| < 2*sqrt(3) (Irwin-Hall of 4)
MARGIN = 0.008  # log-room kept below a price limit for the 0.01-yuan rounding
MIN_PRICE = 3.2  # raw prices never go below this (keeps the rounding error small)
ST_LIMIT = 0.05
BOARD_LIMIT = {Board.MAIN: 0.10, Board.STAR: 0.20, Board.CHINEXT: 0.20, Board.BSE: 0.30}


def rng_for(seed: int, tag: int) -> np.random.Generator:
    """A numpy generator keyed by ``(seed, tag)``: same key, same stream, in any process."""
    return np.random.default_rng(np.random.SeedSequence([seed % (1 << 64), tag]))


def price_params(
    seed: int,
    boards: list[Board],
    ex_tau: np.ndarray,
    has_ex: np.ndarray,
    cum_factor: np.ndarray,
    tau_first: list[int],
    tau_last: list[int],
) -> dict[str, np.ndarray]:
    """Model coefficients, chosen so no daily move can reach the price limit (see prices.py)."""
    rng = rng_for(seed, 4)
    n = len(boards)
    table = 1 << TABLE_BITS
    limit = np.array([BOARD_LIMIT[b] for b in boards])
    t0, t1 = np.array(tau_first, dtype=np.float64), np.array(tau_last, dtype=np.float64)

    market_periods = np.array([45.0, 170.0, 650.0]) * rng.uniform(0.8, 1.25, N_MARKET)
    periods = np.exp(rng.uniform(math.log(8), math.log(1500), (n, N_SINES)))
    periods[:, :N_MARKET] = market_periods
    freq = np.maximum(1, np.rint(table / periods)).astype(np.int64)
    phase = rng.integers(0, table, (n, N_SINES))
    phase[:, :N_MARKET] = rng.integers(0, table, N_MARKET)
    step = 2 * math.pi * freq / table  # a sinusoid of amplitude A moves at most A*step per day
    slopes = rng.uniform(0.005, 0.010, (n, 1)) * rng.dirichlet(np.ones(N_SINES), n)
    amp = np.minimum(slopes / step, 0.45)
    amp *= np.minimum(1.0, 1.2 / amp.sum(1))[:, None]
    slope = (amp * step).sum(1)

    log_final = np.log(cum_factor[:, -1])
    # a small trend, plus the average growth the stock's bonus issues imply
    growth = np.minimum(0.002, log_final / np.maximum(200, t1 - t0))
    drift = rng.uniform(-0.0002, 0.0004, n) + growth
    budget = np.log1p(limit) - MARGIN - slope - np.abs(drift)
    draw_lo = np.where(limit > 0.25, 0.013, np.where(limit > 0.15, 0.011, 0.008))
    draw_hi = np.where(limit > 0.25, 0.026, np.where(limit > 0.15, 0.020, 0.0115))
    sigma = np.minimum(rng.uniform(draw_lo, draw_hi), budget / NOISE_SPAN)
    sigma_st = (math.log1p(ST_LIMIT) - MARGIN - slope - np.abs(drift)) / NOISE_SPAN

    issue = np.clip(np.exp(rng.normal(math.log(11.0), 0.55, n)), 3.5, 90.0)
    base = np.log(issue) - drift * (t0 - 1)
    # lowest trend-minus-log-factor point: at the ends or around an ex-date (it is piecewise linear)
    after = np.where(has_ex, drift[:, None] * ex_tau - np.log(cum_factor[:, 1:]), np.inf)
    before = np.where(has_ex, drift[:, None] * (ex_tau - 1) - np.log(cum_factor[:, :-1]), np.inf)
    low = np.minimum.reduce([drift * (t0 - 1), drift * t1 - log_final, after.min(1), before.min(1)])
    floor = base + low - amp.sum(1) - 3.4642 * np.maximum(sigma, sigma_st)
    base += np.maximum(0.0, math.log(MIN_PRICE) - floor)

    float_lo = np.where(limit > 0.25, 7.0, np.where(limit > 0.15, 7.3, 7.7))
    float_hi = np.where(limit > 0.25, 8.2, np.where(limit > 0.15, 8.9, 9.7))
    typical = {Board.MAIN: 1.2, Board.STAR: 2.5, Board.CHINEXT: 3.0, Board.BSE: 2.0}
    turn_mid = np.array([typical[b] for b in boards])
    return {
        "base": base,
        "drift": drift,
        "amp": amp,
        "freq": freq,
        "phase": phase,
        "sigma": sigma,
        "sigma_st": sigma_st,
        "limit": limit,
        "float_shares": np.rint(10.0 ** rng.uniform(float_lo, float_hi)),
        "turn_base": np.clip(turn_mid * np.exp(rng.normal(0.0, 0.5, n)), 0.3, 8.0),
    }
