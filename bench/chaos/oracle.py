"""The stored ``bars``, ``adj_factors`` and ``valuations`` of a run against the simulated
market's truth: rows lost, duplicated and wrong.

* **lost** — a row the ledger vouches for and the table lacks: every expected row of a unit
  whose status is ``success``, of a (unit, dataset) the ledger records as ``stored``, and — for
  a run that ended ``success`` — of the whole range.
* **duplicated** — a natural key stored more than once (the primary keys forbid it; counted
  anyway, by SQL, so that a schema change could not hide one).
* **wrong** — a stored row whose values differ from the truth, or whose key the truth does not
  have (an unexpected row).
* **unsynced** — expected rows absent where the ledger says the unit failed: reported, not an
  error (the run says so itself).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from stocksync.domain import Period
from stocksync.sim import SimMarket

Key = tuple[Any, ...]
Rows = dict[Key, tuple[Any, ...]]


def _dec(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value)).normalize()


def _norm(value: Any) -> Any:
    return value.normalize() if isinstance(value, Decimal) else value


@dataclass(frozen=True)
class Table:
    """One checked dataset: its table, key columns, value columns and the truth per date."""

    dataset: str
    key: tuple[str, ...]
    values: tuple[str, ...]
    truth: Callable[[SimMarket, dt.date], Rows]


def _bars(market: SimMarket, day: dt.date) -> Rows:
    return {
        (b.code, b.trade_date): (
            _dec(b.open),
            _dec(b.high),
            _dec(b.low),
            _dec(b.close),
            _dec(b.pre_close),
            int(b.volume),
            _dec(b.amount),
            _dec(b.turnover_pct),
            _dec(b.pct_chg),
            int(b.trade_status),
            bool(b.is_st),
        )
        for b in market.bars_for_date(day, Period.DAILY)
    }


def _factors(market: SimMarket, day: dt.date) -> Rows:
    return {(f.code, f.trade_date): (_dec(f.factor),) for f in market.market_adj_factors(day)}


def _valuations(market: SimMarket, day: dt.date) -> Rows:
    return {
        (v.code, v.trade_date): (_dec(v.pe_ttm), _dec(v.pb), _dec(v.total_mv), _dec(v.circ_mv))
        for v in market.valuations_for_date(day)
    }


TABLES = (
    Table(
        "bars",
        ("code", "trade_date"),
        (
            "open",
            "high",
            "low",
            "close",
            "pre_close",
            "volume",
            "amount",
            "turnover_pct",
            "pct_chg",
            "trade_status",
            "is_st",
        ),
        _bars,
    ),
    Table("adj_factors", ("code", "trade_date"), ("factor",), _factors),
    Table(
        "valuations", ("code", "trade_date"), ("pe_ttm", "pb", "total_mv", "circ_mv"), _valuations
    ),
)


@dataclass
class Comparison:
    """Row counts of one dataset (see the module docstring)."""

    expected: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    wrong: int = 0
    unsynced: int = 0
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scope:
    """Rows a unit covers: one date (and maybe one code), or one code over a range."""

    trade_date: dt.date | None
    code: str | None
    start: dt.date
    end: dt.date

    def covers(self, key: Key) -> bool:
        code, day = key
        if self.code is not None and code != self.code:
            return False
        if self.trade_date is not None:
            return bool(day == self.trade_date)
        return bool(self.start <= day <= self.end)


def vouched_scopes(conn: Connection, run_id: int, dataset: str) -> list[Scope]:
    """The scopes of ``dataset`` the ledger vouches for: units ``success``, or the dataset's
    own record ``stored``."""
    rows = conn.execute(
        text(
            "SELECT i.trade_date, i.code, i.start_date, i.end_date FROM sync_items i "
            "LEFT JOIN sync_item_datasets d ON d.item_id = i.id AND d.dataset = :ds "
            "WHERE i.run_id = :run AND i.period = 'daily' "
            "AND (i.status = 'success' OR d.status = 'stored') "
            "AND (:ds = ANY(string_to_array(i.dataset, '+')) OR d.status IS NOT NULL)"
        ),
        {"run": run_id, "ds": dataset},
    ).all()
    return [Scope(*row) for row in rows]


def _stored(conn: Connection, table: Table) -> tuple[Rows, int]:
    where = " WHERE period = 'daily'" if table.dataset == "bars" else ""
    cols = ", ".join(table.key + table.values)
    result = conn.execute(text(f"SELECT {cols} FROM {table.dataset}{where}")).all()
    rows = {tuple(r[: len(table.key)]): tuple(map(_norm, r[len(table.key) :])) for r in result}
    keys = ", ".join(table.key)
    dup = conn.execute(
        text(
            f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {table.dataset}"
            f"{where} GROUP BY {keys} HAVING count(*) > 1) d"
        )
    ).scalar_one()
    return rows, int(dup)


def compare(
    conn: Connection, market: SimMarket, days: Iterable[dt.date], run_id: int, run_ok: bool
) -> dict[str, Comparison]:
    """Every checked dataset of run ``run_id`` over ``days``, against the truth."""
    days = list(days)
    out: dict[str, Comparison] = {}
    for table in TABLES:
        truth: Rows = {}
        for day in days:
            truth.update(table.truth(market, day))
        stored, dup = _stored(conn, table)
        scopes = vouched_scopes(conn, run_id, table.dataset)
        c = Comparison(expected=len(truth), stored=len(stored), duplicated=dup)
        examples: list[str] = []
        for key, want in truth.items():
            got = stored.get(key)
            if got is None:
                if run_ok or any(s.covers(key) for s in scopes):
                    c.lost += 1
                    examples.append(f"lost {table.dataset} {key}")
                else:
                    c.unsynced += 1
            elif got != want:
                c.wrong += 1
                examples.append(f"wrong {table.dataset} {key}: {got} != {want}")
        for key in stored.keys() - truth.keys():
            c.wrong += 1
            examples.append(f"unexpected {table.dataset} {key}")
        c.examples = tuple(examples[:5])
        out[table.dataset] = c
    return out
