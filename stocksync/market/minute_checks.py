"""Minute bars checked against the stored daily bars: a day's first open, last close, highest
high, lowest low, total volume and total amount of its minute bars should be the daily bar's.
Differences are reported (never silently dropped or "fixed"): a source whose minute and daily
series disagree is a source to distrust for that day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

from stocksync.domain import Period

FIELDS = ("open", "high", "low", "close", "volume", "amount")
PRICE_TICK = 0.0051  # prices agree to the cent (plus float noise)
AMOUNT_SHARE = 0.0001  # amounts to 0.01 %


def check_minute_bars(
    conn: Connection,
    start: dt.date,
    end: dt.date,
    period: Period = Period.MIN5,
    codes: Sequence[str] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """The (stock, day)s in [start, end] whose ``period`` bars disagree with the stored daily
    bar, field by field, and how many (stock, day)s were compared."""
    where = "" if codes is None else " AND m.code = ANY(:codes)"
    sql = text(
        "WITH day AS (SELECT m.code, m.bar_time::date AS trade_date, "
        "(array_agg(m.open ORDER BY m.bar_time))[1] AS open, max(m.high) AS high, "
        "min(m.low) AS low, (array_agg(m.close ORDER BY m.bar_time DESC))[1] AS close, "
        "sum(m.volume) AS volume, sum(m.amount) AS amount, min(m.source) AS source "
        "FROM minute_bars m WHERE m.period = :period AND m.bar_time >= :start "
        f"AND m.bar_time < :stop{where} GROUP BY m.code, m.bar_time::date) "
        "SELECT d.*, b.open, b.high, b.low, b.close, b.volume, b.amount, b.source "
        "FROM day d JOIN bars b ON b.code = d.code AND b.period = 'daily' "
        "AND b.trade_date = d.trade_date ORDER BY d.code, d.trade_date"
    )
    params = {"period": period.value, "start": start, "stop": end + dt.timedelta(days=1),
              "codes": list(codes or ())}  # fmt: skip
    findings: list[dict[str, Any]] = []
    compared = 0
    for row in conn.execute(sql, params):
        compared += 1
        code, day = row[0], row[1]
        minute, daily = row[2:8], row[9:15]
        for field, got, want in zip(FIELDS, minute, daily, strict=True):
            if _differ(field, float(got), float(want)):
                findings.append({
                    "code": code, "trade_date": day.isoformat(), "field": field,
                    "from_minutes": float(got), "daily": float(want),
                    "minute_source": row[8], "daily_source": row[15],
                })  # fmt: skip
    return findings, compared


def _differ(field: str, got: float, want: float) -> bool:
    if field == "volume":
        return got != want
    if field == "amount":
        return abs(got - want) > AMOUNT_SHARE * max(abs(want), 1.0)
    return abs(got - want) > PRICE_TICK
