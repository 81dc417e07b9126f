"""Source ``akshare``: eastmoney bars and the exchanges' stock lists through the unmodified
akshare library.

Everything akshare does goes through plain ``requests``, so the standard ``HTTPS_PROXY`` and
``REQUESTS_CA_BUNDLE`` variables route it (the test suite points them at a local fake); this
module never reads the environment itself.

- Bars: ``stock_zh_a_hist`` (eastmoney ``push2his.../kline/get``), one stock over a range, daily,
  weekly or monthly, unadjusted. Volume comes in lots (×100 → shares), amount in yuan;
  ``pre_close`` is ``close - 涨跌额`` and ``pct_chg`` is recomputed from it (eastmoney rounds its
  涨跌幅 to 2 decimals). Suspended days are absent. ``is_st`` is not reported (always False);
  换手率 has eastmoney's 2 decimals.
- Factors: hfq close / raw close per day (6 decimals). Eastmoney rounds hfq prices, so these are
  only as precise as its hfq prices are.
- Index bars: ``index_zh_a_hist`` (eastmoney's index list, then one whole-history kline), the
  main indices, daily/weekly/monthly; 成交量 ×100 → shares, ``pre_close`` from 涨跌额, weekly and
  monthly bars only once their period is over (see :mod:`stocksync.sources.akshare.indices`).
- Stock events (see :mod:`stocksync.sources.akshare.events`), one stock at a time: corporate
  actions from eastmoney's dividend details (per 10 shares → per share; no pay dates, no rights
  issues), today's profile snapshot (name, ST, eastmoney industry, total/float shares; no
  history) and the main indicators, one version per period dated on its notice or later update.
- Minute bars: ``stock_zh_a_hist_min_em`` (the same kline endpoint, ``klt`` 5/15/30/60, ``fqt=0``,
  the whole kept history in one request per stock and period, cut to the range here), 5, 15,
  30 and 60 minutes, unadjusted; 成交量 手 ×100 → shares, 时间 is the bar's end. **Recent only**:
  eastmoney keeps ~1.5-3 months of minute bars; days before that come back missing (the run
  fails over for them), never filled in (see :mod:`stocksync.sources.akshare.minutes`).
- Securities: SSE (main, STAR), SZSE and BSE lists plus the SSE/SZSE delisted lists.
- Calendar: the SSE calendar akshare ships (``file_fold/calendar.json``), offline.

Every eastmoney request carries ``Settings.source_timeout_s`` (akshare passes ``timeout`` on to
``requests``); the stock-list functions set none (SSE, BSE) or their own (SZSE, 15 s), so they run
in a daemon thread abandoned after ``LIST_DEADLINE_FACTOR`` x the timeout, as does
``index_zh_a_hist`` (no timeout on its kline request). Each eastmoney request (the index list's
pages included) and each ``securities()`` call takes one call from the shared quota (default 20
a minute, ``STOCKSYNC_AKSHARE_CALLS_PER_MINUTE``); a wait of up to 5 s is slept through, a
longer one is a :class:`RateLimitedError`.

Errors are classified here once. akshare reads eastmoney's "no such stock" *and* some throttled
replies as an empty frame: empty for a stock the exchanges list, within its listed life, is a
:class:`TransientSourceError`; for a code no exchange lists, :class:`NoDataError`. An HTML 403
page (eastmoney's ban; on the index list, akshare's ``raise_for_status`` after three tries) is
a :class:`RateLimitedError` with a long wait; a ban that shows up as a dropped connection
cannot be told from one and is transient (the circuit breaker takes it from there).
"""

from stocksync.sources.akshare.source import (
    BAN_WAIT_S,
    DEFAULT_CALLS_PER_MINUTE,
    LIST_DEADLINE_FACTOR,
    AkshareSource,
    build_akshare_source,
)

__all__ = [
    "BAN_WAIT_S",
    "DEFAULT_CALLS_PER_MINUTE",
    "LIST_DEADLINE_FACTOR",
    "AkshareSource",
    "build_akshare_source",
]
