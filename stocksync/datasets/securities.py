"""Reference dataset ``securities``: every stock a source lists, listed or delisted, with its
exchange, board and listing dates (refreshed from the sources, see :mod:`.refresh`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.postgresql import insert

from stocksync.domain import Board, Exchange, Security
from stocksync.storage.schema import securities


def upsert_securities(conn: Connection, items: Iterable[Security], *, source: str) -> int:
    """Insert or refresh securities; returns how many rows were sent."""
    rows = [
        {
            "code": s.code,
            "name": s.name,
            "exchange": s.exchange.value,
            "board": s.board.value,
            "list_date": s.list_date,
            "delist_date": s.delist_date,
            "status": s.status,
            "source": source,
        }
        for s in items
    ]
    if not rows:
        return 0
    stmt = insert(securities)
    stmt = stmt.on_conflict_do_update(
        index_elements=[securities.c.code],
        set_={
            c: stmt.excluded[c]
            for c in ("name", "exchange", "board", "list_date", "delist_date", "status", "source")
        }
        | {"updated_at": func.now()},
    )
    for start in range(0, len(rows), 2000):
        conn.execute(stmt, rows[start : start + 2000])
    return len(rows)


def load_securities(conn: Connection, codes: Sequence[str] | None = None) -> list[Security]:
    """Stored securities (all of them, or those in ``codes``), sorted by code."""
    query = select(securities).order_by(securities.c.code)
    if codes is not None:
        query = query.where(securities.c.code.in_(list(codes)))
    return [
        Security(
            code=r.code,
            name=r.name,
            exchange=Exchange(r.exchange),
            board=Board(r.board),
            list_date=r.list_date,
            delist_date=r.delist_date,
        )
        for r in conn.execute(query)
    ]


def count_securities(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(securities)).scalar_one())


def codes_listed_on(conn: Connection, day: dt.date, symbols: Sequence[str] | None) -> list[str]:
    """Stored securities listed on ``day`` (limited to ``symbols`` when given), by code."""
    query = (
        select(securities.c.code)
        .where(
            securities.c.list_date <= day,
            (securities.c.delist_date.is_(None)) | (securities.c.delist_date > day),
        )
        .order_by(securities.c.code)
    )
    if symbols is not None:
        query = query.where(securities.c.code.in_(list(symbols)))
    return list(conn.execute(query).scalars())


def known_codes(conn: Connection) -> frozenset[str]:
    """Every stored code, listed or delisted."""
    return frozenset(conn.execute(select(securities.c.code)).scalars())
