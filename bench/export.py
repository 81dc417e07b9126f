"""The export benchmark: ``python -m bench.export [--quick]``.

Stores the simulated market's daily bars and factors with the raw COPY + merge path (timed, one
transaction per date, as ``bench.ingest``'s ``raw_ingest``), then exports them with
``stocksync.market.export.export_bars`` as CSV and Parquet, raw and qfq, and reports rows/s and the
ratio of export to raw ingest rows/s measured in the same run. Asserts the row counts, no timings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__)
    p.add_argument("--stocks", type=int, default=5200, help="simulated stocks (default 5200)")
    p.add_argument("--days", type=int, default=20, help="trading days (default 20)")
    p.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2025, 3, 3))
    p.add_argument("--quick", action="store_true", help="smoke run: 500 stocks × 5 days")
    p.add_argument("--database-url", help="an external PostgreSQL server (a fresh database)")
    args = p.parse_args(argv)
    if args.quick:
        args.stocks, args.days = 500, 5
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a table. Exit 1 when an export's row count is wrong."""
    from bench.inprocess import generate_by_date, raw_ingest
    from bench.services import make_data_dir, start_services
    from stocksync.config import Settings, SimSettings
    from stocksync.context import build_context
    from stocksync.datasets.adj_factors import write_factors
    from stocksync.market.export import export_bars
    from stocksync.sources.sim import sim_market

    args = parse_args(argv)
    base = Settings(
        data_dir=make_data_dir(), sim=SimSettings(stocks=args.stocks), sources=("sim",), store="sim"
    )
    services = start_services(base, database_server_url=args.database_url, redis_url=None)
    ctx = build_context(services.settings)
    try:
        market = sim_market(base.sim.seed, base.sim.stocks)
        window = args.start + dt.timedelta(days=args.days * 2 + 30)
        days = market.trading_days(args.start, window)[: args.days]
        batches, _ = generate_by_date(market, days)
        raw, written = raw_ingest(ctx.engine, batches)
        with ctx.engine.begin() as conn:
            for day in days:
                write_factors(conn, market.market_adj_factors(day), source="sim")
        print(f"raw COPY + merge: {written:,} bars, {raw.bars_per_s:,.0f} bars/s", file=sys.stderr)
        lines = [f"{'export':<14} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'MB':>7} {'/raw':>6}"]
        with tempfile.TemporaryDirectory(prefix="ss-export-") as out:
            for fmt, adjust in (("csv", "none"), ("parquet", "none"), ("parquet", "qfq")):
                began = time.perf_counter()
                result = export_bars(ctx.engine, Path(out) / f"bars.{fmt}", fmt=fmt, adjust=adjust)
                seconds = time.perf_counter() - began
                if result.rows != written:
                    print(f"*** BENCHMARK FAILED *** {result.rows} rows exported", file=sys.stderr)
                    return 1
                rate = result.rows / seconds
                lines.append(
                    f"{fmt + ' ' + adjust:<14} {result.rows:>10,} {seconds:>8.2f} {rate:>10,.0f} "
                    f"{result.bytes / 1e6:>7.1f} {rate / raw.bars_per_s:>6.2f}"
                )
        print("\n".join(lines))
        return 0
    finally:
        ctx.close()
        services.close()


if __name__ == "__main__":
    if not __package__:  # run as a script: make ``bench`` and stocksync importable
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
