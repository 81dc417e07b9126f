"""The indices stocksync keeps bars of: the main A-share indices, with the first trading day
each has a value (its base date, or the day it was first published where sources start
there)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from stocksync.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """One index: its canonical code (``000300.SH``), name and first day with a value."""

    code: str
    name: str
    since: dt.date


MAIN_INDICES: tuple[IndexInfo, ...] = (
    IndexInfo("000001.SH", "上证指数", dt.date(1990, 12, 19)),
    IndexInfo("000016.SH", "上证50", dt.date(2004, 1, 2)),
    IndexInfo("000300.SH", "沪深300", dt.date(2005, 1, 4)),
    IndexInfo("000905.SH", "中证500", dt.date(2007, 1, 15)),
    IndexInfo("000852.SH", "中证1000", dt.date(2014, 10, 17)),
    IndexInfo("000688.SH", "科创50", dt.date(2020, 7, 23)),
    IndexInfo("399001.SZ", "深证成指", dt.date(1995, 1, 23)),
    IndexInfo("399006.SZ", "创业板指", dt.date(2010, 6, 1)),
    IndexInfo("899050.BJ", "北证50", dt.date(2022, 11, 21)),
)
_BY_CODE = {info.code: info for info in MAIN_INDICES}


def index_info(code: str) -> IndexInfo:
    """The index called ``code`` (canonical, ``000300.SH``); InvalidRequest for another."""
    try:
        return _BY_CODE[code.upper()]
    except KeyError:
        known = ", ".join(_BY_CODE)
        raise InvalidRequest(f"unknown index {code!r}; known: {known}", field="index") from None


def indices_within(
    start: dt.date, end: dt.date, codes: Sequence[str] | None = None
) -> list[tuple[IndexInfo, dt.date, dt.date]]:
    """Each index (of ``codes``, or all) with a value somewhere in [start, end], with the part
    of the range where it has one."""
    chosen = [index_info(c) for c in codes] if codes is not None else list(MAIN_INDICES)
    return [(i, max(start, i.since), end) for i in chosen if i.since <= end]
