"""``stocksync actions``, ``profile``, ``financials`` and ``check-factors``: what the store
knows of a stock besides its bars."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.table import Table

from cli.commands import EXIT_OK, EXIT_RUN_ERRORS, _friendly_errors, _settings, console
from stocksync.context import build_context
from stocksync.market.company import (
    actions_of,
    factor_check,
    financials_of,
    minute_check,
    profile_of,
)


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the commands on the top-level subcommands."""
    actions = sub.add_parser("actions", help="a stock's stored corporate actions")
    actions.add_argument("code", help="stock code, e.g. 600000")
    actions.add_argument("--start", default="1990-01-01", help="first ex-date (YYYY-MM-DD)")
    actions.add_argument("--end", default="2099-12-31", help="last ex-date (YYYY-MM-DD)")
    actions.add_argument("--json", action="store_true")
    actions.set_defaults(func=show_actions)

    profile = sub.add_parser("profile", help="what a stock was on a date: name, ST, industry")
    profile.add_argument("code", help="stock code")
    profile.add_argument("--date", required=True, help="YYYY-MM-DD")
    profile.add_argument("--json", action="store_true")
    profile.set_defaults(func=show_profile)

    reports = sub.add_parser("financials", help="report figures as known on a date")
    reports.add_argument("codes", help="stock codes, comma separated")
    reports.add_argument("--as-of", help="the date the figures were known by (default today)")
    reports.add_argument("--periods", default="8", help="latest report periods per stock")
    reports.add_argument("--json", action="store_true")
    reports.set_defaults(func=show_financials)

    check = sub.add_parser("check-factors", help="factors against corporate actions")
    check.add_argument("--start", required=True, help="YYYY-MM-DD")
    check.add_argument("--end", required=True, help="YYYY-MM-DD")
    check.add_argument("--symbols", help="only these stocks, comma separated")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=show_factor_check)

    minutes = sub.add_parser("check-minutes", help="minute bars against the daily bars")
    minutes.add_argument("--start", required=True, help="YYYY-MM-DD")
    minutes.add_argument("--end", required=True, help="YYYY-MM-DD")
    minutes.add_argument("--period", default="5min", help="5min, 15min, 30min or 60min")
    minutes.add_argument("--symbols", help="only these stocks, comma separated")
    minutes.add_argument("--json", action="store_true")
    minutes.set_defaults(func=show_minute_check)


def _show(data: dict[str, Any], as_json: bool, table: Table | None) -> None:
    if as_json:
        console.print_json(json.dumps(data))
    elif table is not None:
        console.print(table)


def _table(title: str, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("—" if row.get(c) is None else str(row[c]) for c in columns))
    return table


@_friendly_errors
def show_actions(args: argparse.Namespace) -> int:
    data = actions_of(build_context(_settings(), migrate=True), args.code, args.start, args.end)
    columns = ("ex_date", "cash_div", "bonus_ratio", "transfer_ratio", "rights_ratio",
               "record_date", "announce_date", "source")  # fmt: skip
    title = f"{len(data['actions'])} corporate actions of {data['code']} (per share, yuan)"
    _show(data, args.json, _table(title, data["actions"], columns))
    return EXIT_OK


@_friendly_errors
def show_profile(args: argparse.Namespace) -> int:
    data = profile_of(build_context(_settings(), migrate=True), args.code, args.date)
    if args.json:
        _show(data, True, None)
        return EXIT_OK
    console.print(f"{data['code']} on {data['date']}")
    for key, value in data.items():
        if key not in ("code", "date", "sources"):
            source = data.get("sources", {}).get(key)
            console.print(f"  {key}: {value}" + (f"  [dim]({source})[/dim]" if source else ""))
    return EXIT_OK


@_friendly_errors
def show_financials(args: argparse.Namespace) -> int:
    data = financials_of(build_context(_settings(), migrate=True), args.codes, args.as_of,
                         args.periods)  # fmt: skip
    columns = ("code", "report_period", "announce_date", "eps", "roe", "revenue", "net_profit",
               "revenue_yoy", "net_profit_yoy", "gross_margin", "debt_ratio", "source")  # fmt: skip
    title = f"reports as known on {data['as_of']} (yuan; ratios and growth in %)"
    _show(data, args.json, _table(title, data["reports"], columns))
    return EXIT_OK


@_friendly_errors
def show_factor_check(args: argparse.Namespace) -> int:
    data = factor_check(build_context(_settings(), migrate=True), args.start, args.end,
                        args.symbols)  # fmt: skip
    compared = data["compared"]
    if args.json:
        _show(data, True, None)
    else:
        console.print(
            f"{compared['factor_steps']} factor steps and {compared['actions']} actions "
            f"compared, {compared['matched']} matched; {len(data['findings'])} findings, "
            f"{len(data['revisions'])} revised factor values"
        )
        if data["findings"]:
            columns = ("code", "date", "kind", "observed", "implied", "detail")
            console.print(_table("findings", data["findings"], columns))
        if data["revisions"]:
            console.print(_table("revised factors", data["revisions"],
                                 ("code", "trade_date", "old_factor", "new_factor", "old_source",
                                  "new_source", "detected_at")))  # fmt: skip
    return EXIT_RUN_ERRORS if data["findings"] or data["revisions"] else EXIT_OK


@_friendly_errors
def show_minute_check(args: argparse.Namespace) -> int:
    data = minute_check(build_context(_settings(), migrate=True), args.start, args.end,
                        args.period, args.symbols)  # fmt: skip
    if args.json:
        _show(data, True, None)
    else:
        console.print(f"{data['compared_days']} stock-days of {data['period']} bars compared "
                      f"with their daily bars; {len(data['findings'])} differences")  # fmt: skip
        if data["findings"]:
            columns = ("code", "trade_date", "field", "from_minutes", "daily", "minute_source",
                       "daily_source")  # fmt: skip
            console.print(_table("differences", data["findings"], columns))
    return EXIT_RUN_ERRORS if data["findings"] else EXIT_OK
