"""What a user asks a run to do, parsed and validated from an API body or CLI flags."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stocksync.codes import normalize_code
from stocksync.config import REAL_SOURCES_BY_PRIORITY
from stocksync.domain import Period
from stocksync.errors import InvalidRequest
from stocksync.runs.schemas import DATASETS, RUN_REQUEST, validate

EARLIEST_DATE = dt.date(1990, 12, 19)  # the Shanghai exchange's first trading day
DEFAULT_DATASETS = ("bars", "adj_factors", "valuations")
ALLOWED_FIELDS = frozenset(RUN_REQUEST["properties"])
LatestStored = Callable[[tuple[Period, ...], tuple[str, ...] | None], dt.date | None]


@dataclass(frozen=True)
class RunSpec:
    """A validated request: ``datasets`` for ``periods`` over [start_date, end_date], for
    ``symbols`` (None: the whole market), from ``sources`` in priority order; ``force`` redoes
    finished work. ``kind`` says how the range was chosen; ``from_last_bar`` (incremental) starts
    each stock after its own last stored bar."""

    start_date: dt.date
    end_date: dt.date
    symbols: tuple[str, ...] | None
    periods: tuple[Period, ...]
    sources: tuple[str, ...]
    force: bool = False
    kind: str = "range"
    datasets: tuple[str, ...] = DEFAULT_DATASETS
    days_back: int | None = None
    from_last_bar: bool = False

    def wants(self, dataset: str) -> bool:
        return dataset in self.datasets

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "start_date": self.start_date.isoformat(),
            "end_date": self.end_date.isoformat(),
            "symbols": list(self.symbols) if self.symbols is not None else None,
            "periods": [p.value for p in self.periods],
            "datasets": list(self.datasets),
            "sources": list(self.sources),
            "force": self.force,
            "days_back": self.days_back,
            "from_last_bar": self.from_last_bar,
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
            datasets=tuple(data.get("datasets") or DEFAULT_DATASETS),
            days_back=data.get("days_back"),
            from_last_bar=bool(data.get("from_last_bar", False)),
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


def _given(body: Mapping[str, Any], field: str) -> bool:
    """Whether ``field`` holds something: null, an empty list and a string of nothing but
    separators (commas, spaces) all leave it to its default."""
    value = body.get(field)
    if isinstance(value, str):
        return bool(value.replace(",", "").replace(" ", ""))
    return value not in (None, [])


def parse_run_request(
    body: object,
    *,
    known_sources: Iterable[str],
    default_sources: tuple[str, ...],
    today: dt.date,
    max_range_days: int = 90,
    latest_stored: LatestStored | None = None,
    incremental_default_days: int = 30,
) -> RunSpec:
    """Validate a run request against :data:`stocksync.runs.schemas.RUN_REQUEST`, then what a schema
    cannot say. Raises :class:`InvalidRequest` with a message a user understands.

    ``latest_stored(periods, symbols)`` gives the newest stored bar date, for incremental runs
    from the last stored bar. Codes are normalised (``600000`` → ``600000.SH``) but not yet
    checked against the stored securities list; the run service does that.
    """
    validate(body, RUN_REQUEST)
    assert isinstance(body, Mapping)
    kind = body.get("kind") or "range"
    symbols: tuple[str, ...] | None = None
    if _given(body, "symbols"):
        symbols = _unique(normalize_code(s) for s in _string_list(body["symbols"], "symbols"))
    periods = _periods(body)
    start, end = _range(
        body, kind, today, max_range_days, periods, symbols, latest_stored,
        incremental_default_days,
    )  # fmt: skip
    datasets: tuple[str, ...] = DEFAULT_DATASETS
    if _given(body, "datasets"):
        names = [d.lower() for d in _string_list(body["datasets"], "datasets")]
        bad = [d for d in names if d not in DATASETS]
        if bad:
            raise InvalidRequest(
                f"unknown dataset(s) {', '.join(bad)}; use {', '.join(DATASETS)}",
                field="datasets",
            )
        datasets = _unique(names)
    sources = _sources(body, tuple(known_sources), default_sources)
    return RunSpec(
        start, end, symbols, periods, sources, bool(body.get("force", False)), kind,
        datasets, body.get("days_back"), kind == "incremental" and not _given(body, "days_back"),
    )  # fmt: skip


def _periods(body: Mapping[str, Any]) -> tuple[Period, ...]:
    if not _given(body, "periods"):
        return (Period.DAILY,)
    names = _string_list(body["periods"], "periods")
    bad = [p for p in names if p.lower() not in {x.value for x in Period}]
    if bad:
        raise InvalidRequest(
            f"unknown period(s) {', '.join(bad)}; use {', '.join(p.value for p in Period)}",
            field="periods",
        )
    return tuple(Period(p) for p in _unique(n.lower() for n in names))


def _range(
    body: Mapping[str, Any],
    kind: str,
    today: dt.date,
    max_range_days: int,
    periods: tuple[Period, ...],
    symbols: tuple[str, ...] | None,
    latest_stored: LatestStored | None,
    incremental_default_days: int,
) -> tuple[dt.date, dt.date]:
    """[start, end] of the run, by its kind."""
    if kind != "incremental" and _given(body, "days_back"):
        raise InvalidRequest("days_back belongs to kind incremental", field="days_back")
    end = parse_date(body["end_date"], "end_date") if _given(body, "end_date") else today
    if end > today:
        raise InvalidRequest(
            f"end_date {end} is in the future (today is {today} in Shanghai)", field="end_date"
        )
    if kind == "range":
        if not _given(body, "start_date") or not _given(body, "end_date"):
            missing = "start_date" if not _given(body, "start_date") else "end_date"
            raise InvalidRequest(
                f"{missing} is required, as YYYY-MM-DD (or ask for kind all_history or "
                "incremental)",
                field=missing,
            )
        start = parse_date(body["start_date"], "start_date")
    elif kind == "all_history":
        start = EARLIEST_DATE
        if _given(body, "start_date"):
            start = parse_date(body["start_date"], "start_date")
    else:
        if _given(body, "start_date"):
            raise InvalidRequest(
                "kind incremental works out start_date itself: give days_back, or nothing to "
                "start after the last stored bar",
                field="start_date",
            )
        if _given(body, "days_back"):
            start = end - dt.timedelta(days=int(body["days_back"]))
        else:
            latest = latest_stored(periods, symbols) if latest_stored else None
            if latest is None:
                start = end - dt.timedelta(days=incremental_default_days)
            else:
                start = min(end, latest + dt.timedelta(days=1))
    if start > end:
        raise InvalidRequest(
            f"start_date {start} is after end_date {end}; swap them", field="start_date"
        )
    if start < EARLIEST_DATE:
        raise InvalidRequest(
            f"start_date {start} is before the market opened ({EARLIEST_DATE})", field="start_date"
        )
    days = (end - start).days + 1
    if kind == "range" and days > max_range_days:
        raise InvalidRequest(
            f"the range {start} … {end} covers {days} days; a range run covers at most "
            f"{max_range_days} (STOCKSYNC_MAX_RANGE_DAYS). Split it, or ask for kind "
            "all_history",
            field="end_date",
        )
    return start, end


def _sources(
    body: Mapping[str, Any], known: tuple[str, ...], default_sources: tuple[str, ...]
) -> tuple[str, ...]:
    # ``known`` is what runs in this store may name: the real sources in the main store, sim
    # alone in the sim store (the simulated market never writes where real data lives).
    given = [f for f in ("sources", "preferred_sources", "data_sources") if _given(body, f)]
    if len(given) > 1:
        raise InvalidRequest(f"give only one of {', '.join(given)}", field=given[1])
    sources = default_sources
    field = given[0] if given else "sources"
    names = [s.lower() for s in _string_list(body[field], field)] if given else list(sources)
    real = [s for s in names if s in REAL_SOURCES_BY_PRIORITY]
    if "sim" in names and real:
        raise InvalidRequest(
            f"a run cannot mix sim (the simulated market) with real sources ({', '.join(real)}): "
            "simulated data is kept in its own store, apart from real data; sync them in "
            "separate runs",
            field=field,
        )
    if "sim" in names and "sim" not in known:
        raise InvalidRequest(
            "the simulated market lives in its own store: use `stocksync sync --source sim` "
            "or `stocksync up --store sim`",
            field=field,
        )
    if real and known == ("sim",):
        raise InvalidRequest(
            f"real sources ({', '.join(real)}) write to the main store, not the simulated "
            f"market's: use `stocksync sync --source {real[0]}` or `stocksync up` (without "
            "--store sim)",
            field=field,
        )
    if given:
        bad = [s for s in names if s not in known]
        if bad:
            raise InvalidRequest(
                f"unknown source(s) {', '.join(bad)}; configured sources: {', '.join(known)}",
                field=field,
            )
        sources = _unique(names)
    if not sources:
        raise InvalidRequest(
            "no source to sync from: set TUSHARE_TOKEN or STOCKSYNC_SOURCES, or ask for "
            f"sources explicitly (known: {', '.join(known)})",
            field="sources",
        )
    return sources
