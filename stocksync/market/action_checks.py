"""Factors checked against corporate actions: every step of a stock's stored factor history
should have an action on that ex-date, every action a step, and the step the size the action
implies (close before the ex-date ÷ the ex-rights reference price). Also the factor values a
later fetch changed (:mod:`stocksync.datasets.adj_factors` keeps the old ones).

Only stocks and dates both datasets cover are judged: a step is reported only where the
stock's corporate actions were synced over that date (the ledger says so), and an action only
where factors are stored on its ex-date and the trading day before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, text

from stocksync.domain import CorporateAction, DatasetName, Period
from stocksync.runs.finished_work import finished_coverage

STEP_MIN = 0.0005  # a factor moving less than this is rounding (hfq prices in cents), no step
SIZE_TOLERANCE = 0.005  # implied and observed step may differ by this much (amounts rounded)


@dataclass(frozen=True)
class Finding:
    """One disagreement between a stock's factors and its actions."""

    code: str
    date: dt.date
    kind: str  # step_without_action / action_without_step / step_size
    observed: float | None  # the factor step on that date (new ÷ old)
    implied: float | None  # the step the action implies
    detail: str

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["date"] = self.date.isoformat()
        return found


def check_factors(
    conn: Connection, start: dt.date, end: dt.date, codes: Sequence[str] | None = None
) -> tuple[list[Finding], dict[str, int]]:
    """The findings in [start, end] (of ``codes``, or every stock), and what was compared."""
    synced = finished_coverage(conn, period=Period.DAILY, dataset=DatasetName.CORPORATE_ACTIONS,
                               codes=codes, start=start, end=end).ranges  # fmt: skip

    def actions_synced(code: str, day: dt.date) -> bool:
        return any(a <= day <= b for a, b in synced.get(code, ()))

    steps = _steps(conn, start, end, codes)
    actions = _actions(conn, start, end, codes)
    closes = _closes_before(conn, [(c, d) for c, d in actions])
    factored = _factored(conn, [(c, d) for c, d in actions])
    findings: list[Finding] = []
    matched = 0
    for (code, day), observed in sorted(steps.items()):
        action = actions.get((code, day))
        if action is None:
            if actions_synced(code, day):
                why = f"the factor moves ×{observed:.6f} with no action stored"
                findings.append(Finding(code, day, "step_without_action", observed, None, why))
            continue
        matched += 1
        close = closes.get((code, day))
        if close is None:
            continue
        implied = action.factor_ratio(close)
        if abs(observed / implied - 1) > SIZE_TOLERANCE:
            findings.append(Finding(code, day, "step_size", observed, implied,
                                    f"the factor moves ×{observed:.6f}; the action implies "
                                    f"×{implied:.6f} at the close {close} before it"))  # fmt: skip
    for (code, day), action in sorted(actions.items()):
        if (code, day) in steps or not factored.get((code, day)):
            continue
        before = closes.get((code, day))
        expected = action.factor_ratio(before) if before else None
        why = "an action on this ex-date, but the factor does not move"
        findings.append(Finding(code, day, "action_without_step", 1.0, expected, why))
    compared = {"factor_steps": len(steps), "actions": len(actions), "matched": matched}
    return findings, compared


def _codes_clause(codes: Sequence[str] | None) -> str:
    return "" if codes is None else " AND code = ANY(:codes)"


def _steps(
    conn: Connection, start: dt.date, end: dt.date, codes: Sequence[str] | None
) -> dict[tuple[str, dt.date], float]:
    sql = text(
        "SELECT code, trade_date, factor / prev FROM (SELECT code, trade_date, factor, "
        "lag(factor) OVER (PARTITION BY code ORDER BY trade_date) AS prev FROM adj_factors "
        f"WHERE trade_date BETWEEN :lo AND :end{_codes_clause(codes)}) f "
        "WHERE prev IS NOT NULL AND trade_date >= :start AND abs(factor / prev - 1) > :step"
    )
    params = {"lo": start - dt.timedelta(days=60), "start": start, "end": end, "step": STEP_MIN,
              "codes": list(codes or ())}  # fmt: skip
    return {(c, d): float(r) for c, d, r in conn.execute(sql, params)}


def _actions(
    conn: Connection, start: dt.date, end: dt.date, codes: Sequence[str] | None
) -> dict[tuple[str, dt.date], CorporateAction]:
    sql = text(
        "SELECT code, ex_date, cash_div, bonus_ratio, transfer_ratio, rights_ratio, rights_price "
        f"FROM corporate_actions WHERE ex_date BETWEEN :start AND :end{_codes_clause(codes)}"
    )
    found = {}
    for code, day, cash, bonus, transfer, rights, price in conn.execute(
        sql, {"start": start, "end": end, "codes": list(codes or ())}
    ):
        found[(code, day)] = CorporateAction(
            code, day, float(cash), float(bonus), float(transfer), float(rights),
            None if price is None else float(price),
        )  # fmt: skip
    return found


def _closes_before(
    conn: Connection, keys: Sequence[tuple[str, dt.date]]
) -> dict[tuple[str, dt.date], float]:
    """The daily close of each (code, ex-date)'s last bar before the ex-date."""
    if not keys:
        return {}
    sql = text(
        "SELECT k.code, k.day, (SELECT b.close FROM bars b WHERE b.code = k.code "
        "AND b.period = 'daily' AND b.trade_date < k.day AND b.trade_date >= k.day - 40 "
        "ORDER BY b.trade_date DESC LIMIT 1) FROM unnest(CAST(:codes AS text[]), "
        "CAST(:days AS date[])) AS k(code, day)"
    )
    rows = conn.execute(sql, {"codes": [c for c, _ in keys], "days": [d for _, d in keys]})
    return {(c, d): float(close) for c, d, close in rows if close is not None}


def _factored(
    conn: Connection, keys: Sequence[tuple[str, dt.date]]
) -> dict[tuple[str, dt.date], bool]:
    """Whether factors are stored on each (code, ex-date) and on a day shortly before it."""
    if not keys:
        return {}
    sql = text(
        "SELECT k.code, k.day, EXISTS (SELECT 1 FROM adj_factors a WHERE a.code = k.code "
        "AND a.trade_date = k.day) AND EXISTS (SELECT 1 FROM adj_factors a WHERE a.code = k.code "
        "AND a.trade_date < k.day AND a.trade_date >= k.day - 40) "
        "FROM unnest(CAST(:codes AS text[]), CAST(:days AS date[])) AS k(code, day)"
    )
    rows = conn.execute(sql, {"codes": [c for c, _ in keys], "days": [d for _, d in keys]})
    return {(c, d): bool(ok) for c, d, ok in rows}


def factor_revisions(
    conn: Connection, code: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Stored factor values a later fetch changed, newest first: what changed, when, which
    source said what."""
    where = "WHERE code = :code " if code else ""
    sql = text(
        "SELECT code, trade_date, old_factor, new_factor, old_source, new_source, detected_at "
        f"FROM adj_factor_revisions {where}ORDER BY detected_at DESC, code, trade_date LIMIT :n"
    )
    return [
        {"code": c, "trade_date": d.isoformat(), "old_factor": float(old),
         "new_factor": float(new), "old_source": os, "new_source": ns,
         "detected_at": at.isoformat()}
        for c, d, old, new, os, ns, at in conn.execute(sql, {"code": code, "n": limit})
    ]  # fmt: skip
