"""``stocksync export``: stored bars (or another dataset) to a CSV or Parquet file, or CSV to
stdout."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from cli.commands import EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, _friendly_errors, console, err
from stocksync.config import get_settings
from stocksync.context import build_context
from stocksync.errors import InvalidRequest
from stocksync.market.export import ExportResult, export_bars, parse_export
from stocksync.market.export_dataset import export_parquet_dataset
from stocksync.market.export_duckdb import export_duckdb
from stocksync.market.export_qlib import export_qlib
from stocksync.market.export_tables import TABLES, export_table

PARQUET_SUFFIXES = (".parquet", ".pq")
STORE_FORMATS = ("qlib", "parquet-dataset", "duckdb")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``export`` on the top-level subcommands."""
    parser = sub.add_parser("export", help="write stored bars (or a dataset) to CSV or Parquet")
    parser.add_argument("--dataset", default="bars", help=f"bars (default), {', '.join(TABLES)}")
    parser.add_argument("--out", required=True, help="file to write, or - for stdout (csv only)")
    parser.add_argument(
        "--format", choices=("csv", "parquet", *STORE_FORMATS),
        help="default: parquet for .parquet/.pq, else csv; qlib (a directory in qlib's binary "
        "layout, appended to), parquet-dataset (a hive-partitioned directory) or duckdb (a "
        "database file) export the store",
    )  # fmt: skip
    parser.add_argument("--datasets", help="for parquet-dataset/duckdb: datasets (default all)")
    parser.add_argument("--period", help="daily (default), weekly, monthly; 5min… for minutes")
    parser.add_argument("--start", help="first date, YYYY-MM-DD (default: the first stored)")
    parser.add_argument("--end", help="last date, YYYY-MM-DD (default: the latest stored)")
    parser.add_argument("--symbols", help="codes, comma separated (default: every stock)")
    parser.add_argument("--adjust", default="none", help="none, qfq or hfq (default none)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")
    parser.set_defaults(func=export)


@_friendly_errors
def export(args: argparse.Namespace) -> int:
    if args.format in STORE_FORMATS:
        return _export_store(args)
    to_stdout = args.out == "-"
    fmt = args.format or ("parquet" if args.out.lower().endswith(PARQUET_SUFFIXES) else "csv")
    if to_stdout and fmt != "csv":
        raise InvalidRequest(f"{fmt} cannot be written to stdout; give --out FILE", field="out")
    codes = _listed(args.symbols)
    asked = {"period": args.period, "start": args.start, "end": args.end, "codes": codes,
             "adjust": args.adjust}  # fmt: skip
    parse_export(fmt=fmt, **asked)  # bad input fails before any service is started
    if args.dataset != "bars" and args.dataset not in TABLES:
        names = ", ".join(["bars", *TABLES])
        raise InvalidRequest(f"dataset {args.dataset!r} cannot be exported; use {names}",
                             field="dataset")  # fmt: skip
    ctx = build_context(get_settings(), migrate=True)
    try:
        out = sys.stdout.buffer if to_stdout else Path(args.out)
        if args.dataset == "bars":
            result = export_bars(ctx.engine, out, fmt=fmt, **asked)
        else:
            del asked["adjust"]
            result = export_table(ctx.engine, out, dataset=args.dataset, fmt=fmt, **asked)
    except KeyboardInterrupt:
        left = "the output is incomplete" if to_stdout else f"{args.out} was not written"
        err.print(f"[yellow]interrupted; {left}[/yellow]")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of stdout went away (| head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot write {args.out}: {exc.strerror or exc}")
        return EXIT_INVALID
    finally:
        ctx.close()
    _report(result, to_stdout, args.json)
    return EXIT_OK


def _export_store(args: argparse.Namespace) -> int:
    """The whole store (or its datasets) as qlib's layout, a Parquet dataset or a DuckDB file."""
    if args.out == "-":
        raise InvalidRequest(f"{args.format} cannot be written to stdout", field="out")
    codes = _listed(args.symbols)
    names = _listed(args.datasets)
    ctx = build_context(get_settings(), migrate=True)
    try:
        if args.format == "qlib":
            result = export_qlib(ctx.engine, args.out, start=args.start, end=args.end, codes=codes)
        elif args.format == "duckdb":
            result = export_duckdb(ctx.engine, args.out, datasets=names, start=args.start,
                                   end=args.end)  # fmt: skip
        else:
            result = export_parquet_dataset(ctx.engine, args.out, datasets=names,
                                            start=args.start, end=args.end)  # fmt: skip
    finally:
        ctx.close()
    if args.json:
        console.print_json(json.dumps(result, default=str))
    else:
        console.print(f"exported {args.format} to {args.out}: "
                      + ", ".join(f"{k} {v}" for k, v in result.items()
                                  if isinstance(v, int | float | str) and k != "out"))  # fmt: skip
    return EXIT_OK


def _listed(text: str | None) -> list[str] | None:
    return None if text is None else [p for p in text.replace(" ", ",").split(",") if p]


def _report(result: ExportResult, to_stdout: bool, as_json: bool) -> None:
    where = err if to_stdout else console  # stdout may be the data itself
    if as_json:
        where.print_json(json.dumps(result.to_json()))
        return
    size = f"{result.bytes / 1e6:.1f} MB" if result.bytes >= 1e5 else f"{result.bytes:,} bytes"
    rate = f", {result.rows / result.seconds:,.0f} rows/s" if result.seconds >= 1 else ""
    target = result.path or "stdout"
    where.print(
        f"exported {result.rows:,} rows ({result.format}, {result.period}, "
        f"adjust {result.adjust}) to {target}: {size} in {result.seconds:.1f} s{rate}",
        soft_wrap=True,
    )
