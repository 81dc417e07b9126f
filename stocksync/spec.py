"""What a user asks a run to do, parsed and validated from an API body or CLI flags."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stocksync.codes import normalize_code
from stocksync.domain import Period
from stocksync.errors import InvalidRequest

EARLIEST_DATE = dt.date(1990, 12, 19)  # the Shanghai exchange's first trading day
ALLOWED_FIELDS = frozenset({"start_date", "end_date", "symbols", "periods", "sources", "force"})


@dataclass(frozen=True)
class RunSpec:
    """A validated request: bars for ``periods`` over [start_date, end_date], for ``symbols``
    (None: the whole market), from ``sources`` in priority order; ``force`` redoes finished work."""

    start_date: dt.date
    end_date: dt.date
    symbols: tuple[str, ...] | None
    periods: tuple[Period, ...]
    sources: tuple[str, ...]
    force: bool = False
    kind: str = "range"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "start_date": self.start_date.isoformat(),
            "end_date": self.end_date.isoformat(),
            "symbols": list(self.symbols) if self.symbols is not None else None,
            "periods": [p.value for p in self.periods],
            "sources": list(self.sources),
            "force": self.force,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSpec:
        symbols = data.get("symbols")
        return cls(
            start_date=dt.date.fromisoformat(data["start_date"]),
            end_date=dt.date.fromisoformat(data["end_date"]),
            symbols=tuple(symbols) if symbols is not None else None,
            periods=tuple(Period(p) for p in data["periods"]),
            sources=tuple(data["sources"]),
            force=bool(data.get("force", False)),
            kind=data.get("kind", "range"),
        )


def parse_date(value: object, field: str) -> dt.date:
    """A date from ``YYYY-MM-DD`` (or ``YYYYMMDD``); InvalidRequest naming ``field`` otherwise."""
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{field} is required, as YYYY-MM-DD", field=field)
    text = value.strip()
    try:
        if len(text) == 8 and text.isdigit():
            return dt.datetime.strptime(text, "%Y%m%d").date()
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            f"{field} {value!r} is not a valid date; write YYYY-MM-DD, e.g. 2024-01-31",
            field=field,
        ) from None


def _string_list(value: object, field: str) -> list[str]:
    if isinstance(value, str):
        items = [part for part in value.replace(" ", ",").split(",") if part]
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        items = list(value)
    else:
        raise InvalidRequest(f"{field} must be a list of strings", field=field)
    return items


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def parse_run_request(
    body: object,
    *,
    known_sources: Iterable[str],
    default_sources: tuple[str, ...],
    today: dt.date,
) -> RunSpec:
    """Validate a run request. Raises :class:`InvalidRequest` with a message a user understands.

    Codes are normalised (``600000`` → ``600000.SH``) but not yet checked against the stored
    securities list; the run service does that.
    """
    if not isinstance(body, Mapping):
        raise InvalidRequest("the request body must be a JSON object")
    unknown = sorted(set(body) - ALLOWED_FIELDS)
    if unknown:
        raise InvalidRequest(
            f"unknown field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(ALLOWED_FIELDS))}",
            field=unknown[0],
        )
    start = parse_date(body.get("start_date"), "start_date")
    end = parse_date(body.get("end_date"), "end_date")
    if start > end:
        raise InvalidRequest(
            f"start_date {start} is after end_date {end}; swap them", field="start_date"
        )
    if start < EARLIEST_DATE:
        raise InvalidRequest(
            f"start_date {start} is before the market opened ({EARLIEST_DATE})", field="start_date"
        )
    if end > today:
        raise InvalidRequest(
            f"end_date {end} is in the future (today is {today} in Shanghai)", field="end_date"
        )

    symbols: tuple[str, ...] | None = None
    if body.get("symbols") not in (None, [], ""):
        symbols = _unique(normalize_code(s) for s in _string_list(body["symbols"], "symbols"))

    periods: tuple[Period, ...] = (Period.DAILY,)
    if body.get("periods") not in (None, [], ""):
        names = _string_list(body["periods"], "periods")
        bad = [p for p in names if p.lower() not in {x.value for x in Period}]
        if bad:
            raise InvalidRequest(
                f"unknown period(s) {', '.join(bad)}; use daily, weekly or monthly",
                field="periods",
            )
        periods = tuple(Period(p) for p in _unique(n.lower() for n in names))

    known = tuple(known_sources)
    sources = default_sources
    if body.get("sources") not in (None, [], ""):
        names = [s.lower() for s in _string_list(body["sources"], "sources")]
        bad = [s for s in names if s not in known]
        if bad:
            raise InvalidRequest(
                f"unknown source(s) {', '.join(bad)}; configured sources: {', '.join(known)}",
                field="sources",
            )
        sources = _unique(names)

    if not sources:
        raise InvalidRequest(
            "no source to sync from: set TUSHARE_TOKEN or STOCKSYNC_SOURCES, or ask for "
            f"sources explicitly (known: {', '.join(known)})",
            field="sources",
        )
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise InvalidRequest("force must be true or false", field="force")
    return RunSpec(start, end, symbols, periods, sources, force)
