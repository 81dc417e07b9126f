"""Dataset ``corporate_actions``: each stock's implemented cash dividends, bonus and transfer
shares and rights issues, one row per ex-date, amounts per share in yuan.

Checked against the factors by :mod:`stocksync.market.action_checks`: every step of a stock's
factor history should have an action on that date and every action a step, of the size the
action implies.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from stocksync.datasets.base import Dataset, Key
from stocksync.domain import CorporateAction, DatasetName, Period
from stocksync.storage.upsert import copy_merge

if TYPE_CHECKING:
    from stocksync.sources.base import Source

COLUMNS = (
    "code", "ex_date", "cash_div", "bonus_ratio", "transfer_ratio", "rights_ratio",
    "rights_price", "record_date", "pay_date", "announce_date", "report_period", "source",
    "fetched_at",
)  # fmt: skip
MAX_SHARES_PER_SHARE = 10.0  # 100 bonus shares for 10 is already beyond anything seen


class CorporateActionsDataset(Dataset[CorporateAction]):
    name = DatasetName.CORPORATE_ACTIONS
    table = "corporate_actions"
    events = True

    def key(self, row: CorporateAction) -> Key:
        return row.code, row.ex_date

    def problem(self, row: CorporateAction) -> str | None:
        amounts = {
            "cash_div": row.cash_div, "bonus_ratio": row.bonus_ratio,
            "transfer_ratio": row.transfer_ratio, "rights_ratio": row.rights_ratio,
        }  # fmt: skip
        for field, value in amounts.items():
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                return f"{field} {value!r} is not a non-negative number"
        if not any(amounts.values()):
            return "no cash, no shares: not an action"
        shares = row.bonus_ratio + row.transfer_ratio + row.rights_ratio
        if shares > MAX_SHARES_PER_SHARE:
            return f"{shares} new shares per share: a per-10 figure taken for per share?"
        if row.rights_ratio > 0 and not (row.rights_price or 0) > 0:
            return "a rights issue without a price"
        if row.record_date is not None and row.record_date > row.ex_date:
            return f"record date {row.record_date} after the ex-date"
        return None

    def write(self, conn: Connection, rows: Sequence[CorporateAction], *, source: str) -> int:
        stamp = dt.datetime.now(dt.UTC).isoformat()
        values = (
            (r.code, r.ex_date, r.cash_div, r.bonus_ratio, r.transfer_ratio, r.rights_ratio,
             r.rights_price, r.record_date, r.pay_date, r.announce_date, r.report_period,
             source, stamp)
            for r in rows
        )  # fmt: skip
        return copy_merge(conn, self.table, COLUMNS, COLUMNS[:2], COLUMNS[2:11], values)

    def fetch_market(self, source: Source, period: Period, day: dt.date) -> list[CorporateAction]:
        raise NotImplementedError("corporate actions are fetched per stock")

    def fetch_stock(
        self, source: Source, period: Period, code: str, start: dt.date, end: dt.date
    ) -> list[CorporateAction]:
        return source.corporate_actions(code, start, end)


CORPORATE_ACTIONS = CorporateActionsDataset()
