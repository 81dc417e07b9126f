"""Dataset ``index_members``: monthly snapshots of the main indices' constituents, each dated
on the last trading day of its month, with weights in percent where the source has them.

A snapshot is written whole: the members an earlier fetch stored for that index and date and
the new one lacks are removed (an index's set is replaced, never merged). The members of an
index on a date are those of its latest snapshot on or before that date.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection, and_, delete, func, or_, select, tuple_

from stocksync.codes import normalize_code
from stocksync.datasets.base import Dataset, Key
from stocksync.domain import DatasetName, IndexMember, Period
from stocksync.errors import InvalidRequest
from stocksync.storage.schema import index_members
from stocksync.storage.upsert import copy_merge

if TYPE_CHECKING:
    from stocksync.sources.base import Source

COLUMNS = ("index_code", "trade_date", "code", "weight", "source", "fetched_at")


class IndexMembersDataset(Dataset[IndexMember]):
    name = DatasetName.INDEX_MEMBERS
    periods = frozenset({Period.MONTHLY})
    table = "index_members"
    subjects = "indices"
    sampled = Period.MONTHLY

    def key(self, row: IndexMember) -> Key:
        """The snapshot a member belongs to: (index, date). Completeness asks for one snapshot
        per month; the members within it are checked one by one."""
        return row.index_code, row.trade_date

    def problem(self, row: IndexMember) -> str | None:
        try:
            if normalize_code(row.code) != row.code:
                return f"member code {row.code!r} is not canonical"
        except InvalidRequest:
            return f"member code {row.code!r} is not a stock code"
        if row.weight is not None and (not math.isfinite(row.weight) or not 0 <= row.weight <= 100):
            return f"weight {row.weight} is not a percentage"
        return None

    def identity(self, row: IndexMember) -> Hashable:
        """A member once per snapshot (the key names the snapshot, not the member)."""
        return row.index_code, row.trade_date, row.code

    def duplicate(self, row: IndexMember) -> str:
        return f"{row.code} twice in one snapshot"

    def write(self, conn: Connection, rows: Sequence[IndexMember], *, source: str) -> int:
        """Replace each snapshot in ``rows`` whole; returns members inserted, changed or
        removed."""
        snapshots = sorted({(r.index_code, r.trade_date) for r in rows})
        if not snapshots:
            return 0
        members = {(r.index_code, r.trade_date, r.code) for r in rows}
        stale = conn.execute(
            select(
                index_members.c.index_code, index_members.c.trade_date, index_members.c.code
            ).where(tuple_(index_members.c.index_code, index_members.c.trade_date).in_(snapshots))
        ).all()
        gone = [tuple(m) for m in stale if tuple(m) not in members]
        if gone:
            conn.execute(
                delete(index_members).where(
                    or_(*(and_(index_members.c.index_code == i, index_members.c.trade_date == d,
                               index_members.c.code == c) for i, d, c in gone))
                )
            )  # fmt: skip
        stamp = dt.datetime.now(dt.UTC).isoformat()
        values = ((r.index_code, r.trade_date, r.code, r.weight, source, stamp) for r in rows)
        return len(gone) + copy_merge(conn, "index_members", COLUMNS, COLUMNS[:3], COLUMNS[3:4],
                                      values)  # fmt: skip

    def fetch_market(self, source: Source, period: Period, day: dt.date) -> list[IndexMember]:
        return source.market_index_members(day)

    def fetch_stock(
        self, source: Source, period: Period, code: str, start: dt.date, end: dt.date
    ) -> list[IndexMember]:
        return source.index_members(code, start, end)


INDEX_MEMBERS = IndexMembersDataset()


def members_on(conn: Connection, index_code: str, day: dt.date) -> tuple[dt.date | None, list]:
    """The snapshot in force on ``day`` (the latest on or before it): its date and members
    (code, weight), or (None, []) when none is stored."""
    latest = conn.execute(
        select(func.max(index_members.c.trade_date)).where(
            index_members.c.index_code == index_code, index_members.c.trade_date <= day
        )
    ).scalar_one_or_none()
    if latest is None:
        return None, []
    rows = conn.execute(
        select(index_members.c.code, index_members.c.weight)
        .where(index_members.c.index_code == index_code, index_members.c.trade_date == latest)
        .order_by(index_members.c.code)
    ).all()
    return latest, [(code, None if w is None else float(w)) for code, w in rows]
