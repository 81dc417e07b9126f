"""Source ``tushare``: the tushare pro API (a token is required) through its own, unmodified
client library (``tushare.pro_api``), redirected by ``STOCKSYNC_TUSHARE_URL``.

- :mod:`.client`: the one gate every call passes (quota, client, error classification);
- :mod:`.rows`: tushare's units and formats to canonical rows;
- :mod:`.indices`: index bars (``index_daily`` / ``index_weekly`` / ``index_monthly``);
- :mod:`.members`: index members and weights (``index_weight``), one snapshot a month;
- :mod:`.actions`: corporate actions (``dividend``);
- :mod:`.profiles`: names, ST, share capital, industry and area (``namechange``,
  ``daily_basic``, ``stock_basic``);
- :mod:`.financials`: every version of the quarterly reports (``fina_indicator``, ``income``);
- :mod:`.minutes`: 5- to 60-minute bars (``stk_mins``);
- :mod:`.source`: :class:`TushareSource` and :func:`build_tushare_source`.
"""

from stocksync.sources.tushare.source import TushareSource, build_tushare_source

__all__ = ["TushareSource", "build_tushare_source"]
