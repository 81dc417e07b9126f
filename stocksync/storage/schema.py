"""The database schema (SQLAlchemy Core). Alembic migrations in ``migrations/`` create it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

PRICE = Numeric(14, 4)

securities = Table(
    "securities",
    metadata,
    Column("code", String(12), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("exchange", String(4), nullable=False),
    Column("board", String(16), nullable=False),
    Column("list_date", Date, nullable=False),
    Column("delist_date", Date),
    Column("status", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

trade_calendar = Table(
    "trade_calendar",
    metadata,
    Column("exchange", String(8), primary_key=True),
    Column("cal_date", Date, primary_key=True),
    Column("is_open", Boolean, nullable=False),
)


def _bar_key_and_levels() -> list[Column[Any]]:
    """The key and the OHLC / volume / amount columns stock bars and index bars share."""
    return [
        Column("code", String(12), primary_key=True),
        Column("period", String(8), primary_key=True),
        Column("trade_date", Date, primary_key=True),
        Column("open", PRICE, nullable=False),
        Column("high", PRICE, nullable=False),
        Column("low", PRICE, nullable=False),
        Column("close", PRICE, nullable=False),
        Column("pre_close", PRICE),
        Column("volume", BigInteger, nullable=False),
        Column("amount", Numeric(20, 2), nullable=False),
    ]


bars = Table(
    "bars",
    metadata,
    *_bar_key_and_levels(),
    Column("turnover_pct", Numeric(12, 4)),
    Column("pct_chg", Numeric(12, 4)),
    Column("trade_status", SmallInteger, nullable=False),
    Column("is_st", Boolean, nullable=False),
    Column("source", String(16), nullable=False),
    Column("fetched_at", DateTime(timezone=True), nullable=False),
)
Index("ix_bars_period_trade_date", bars.c.period, bars.c.trade_date)

index_bars = Table(
    "index_bars",
    metadata,
    *_bar_key_and_levels(),
    Column("pct_chg", Numeric(12, 4)),
    Column("source", String(16), nullable=False),
    Column("fetched_at", DateTime(timezone=True), nullable=False),
)
Index("ix_index_bars_period_trade_date", index_bars.c.period, index_bars.c.trade_date)

index_members = Table(
    "index_members",
    metadata,
    Column("index_code", String(12), primary_key=True),
    Column("trade_date", Date, primary_key=True),
    Column("code", String(12), primary_key=True),
    Column("weight", Numeric(10, 6)),
    Column("source", String(16), nullable=False),
    Column("fetched_at", DateTime(timezone=True), nullable=False),
)

adj_factors = Table(
    "adj_factors",
    metadata,
    Column("code", String(12), primary_key=True),
    Column("trade_date", Date, primary_key=True),
    Column("factor", Numeric(20, 6), nullable=False),
    Column("source", String(16), nullable=False),
)

# Intraday bars, partitioned by month on bar_time (partitions made on first write:
# stocksync.datasets.minute_bars.ensure_partitions).
minute_bars = Table(
    "minute_bars",
    metadata,
    Column("code", String(12), primary_key=True),
    Column("period", String(8), primary_key=True),
    Column("bar_time", DateTime, primary_key=True),
    Column("open", PRICE, nullable=False),
    Column("high", PRICE, nullable=False),
    Column("low", PRICE, nullable=False),
    Column("close", PRICE, nullable=False),
    Column("volume", BigInteger, nullable=False),
    Column("amount", Numeric(20, 2), nullable=False),
    Column("source", String(16), nullable=False),
    postgresql_partition_by="RANGE (bar_time)",
)

# Factor values a later fetch changed: the old value kept, with who said what and when (a source
# revising its factor history retroactively, or another source taking over the stock).
adj_factor_revisions = Table(
    "adj_factor_revisions",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("code", String(12), nullable=False),
    Column("trade_date", Date, nullable=False),
    Column("old_factor", Numeric(20, 6), nullable=False),
    Column("new_factor", Numeric(20, 6), nullable=False),
    Column("old_source", String(16), nullable=False),
    Column("new_source", String(16), nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_adj_factor_revisions_code_trade_date", adj_factor_revisions.c.code,
      adj_factor_revisions.c.trade_date)  # fmt: skip

# Implemented corporate actions, one row per stock and ex-date; amounts per share, in yuan.
corporate_actions = Table(
    "corporate_actions",
    metadata,
    Column("code", String(12), primary_key=True),
    Column("ex_date", Date, primary_key=True),
    Column("cash_div", Numeric(14, 6), nullable=False),
    Column("bonus_ratio", Numeric(12, 6), nullable=False),
    Column("transfer_ratio", Numeric(12, 6), nullable=False),
    Column("rights_ratio", Numeric(12, 6), nullable=False),
    Column("rights_price", PRICE),
    Column("record_date", Date),
    Column("pay_date", Date),
    Column("announce_date", Date),
    Column("report_period", Date),
    Column("source", String(16), nullable=False),
    Column("fetched_at", DateTime(timezone=True), nullable=False),
)

# What each source says of a stock from a date on (a NULL field: the row says nothing of it).
stock_profiles = Table(
    "stock_profiles",
    metadata,
    Column("code", String(12), primary_key=True),
    Column("valid_from", Date, primary_key=True),
    Column("source", String(16), primary_key=True),
    Column("name", Text),
    Column("is_st", Boolean),
    Column("industry", Text),
    Column("industry_scheme", Text),
    Column("area", Text),
    Column("total_shares", Numeric(20, 2)),
    Column("float_shares", Numeric(20, 2)),
    Column("fetched_at", DateTime(timezone=True), nullable=False),
)

# Every announced version of each quarterly report: a restatement is a later announce_date.
financials = Table(
    "financials",
    metadata,
    Column("code", String(12), primary_key=True),
    Column("report_period", Date, primary_key=True),
    Column("announce_date", Date, primary_key=True),
    Column("eps", Float),
    Column("roe", Float),
    Column("revenue", Float),
    Column("net_profit", Float),
    Column("revenue_yoy", Float),
    Column("net_profit_yoy", Float),
    Column("gross_margin", Float),
    Column("debt_ratio", Float),
    Column("announce_estimated", Boolean, nullable=False, server_default="false"),
    Column("source", String(16), nullable=False),
    Column("fetched_at", DateTime(timezone=True), nullable=False),
)
Index("ix_financials_announce_date", financials.c.announce_date)

valuations = Table(
    "valuations",
    metadata,
    Column("code", String(12), primary_key=True),
    Column("trade_date", Date, primary_key=True),
    Column("pe_ttm", Numeric(16, 4)),
    Column("pb", Numeric(16, 4)),
    Column("total_mv", Numeric(24, 2)),
    Column("circ_mv", Numeric(24, 2)),
    Column("source", String(16), nullable=False),
    Column("fetched_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(24), nullable=False),
    Column("spec", JSONB, nullable=False),
    Column("status", String(24), nullable=False),
    Column("total", Integer, nullable=False, server_default="0"),
    Column("success_count", Integer, nullable=False, server_default="0"),
    Column("failed_count", Integer, nullable=False, server_default="0"),
    Column("skipped_count", Integer, nullable=False, server_default="0"),
    Column("rows_written", BigInteger, nullable=False, server_default="0"),
    Column("message", Text),
    Column("error", Text),
    Column("fence", BigInteger),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("duration_s", Float),
    Column("trigger", String(40)),  # "api", "cli", "schedule:daily", … (NULL: before 0004)
)
Index("ix_sync_runs_status", sync_runs.c.status)

sync_items = Table(
    "sync_items",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("run_id", Integer, ForeignKey("sync_runs.id", ondelete="CASCADE"), nullable=False),
    Column("parent_id", BigInteger),  # a per-date unit split into per-stock units
    Column("unit_key", String(200), nullable=False),
    Column("dataset", String(64), nullable=False),  # the unit's datasets, "bars+adj_factors"
    Column("period", String(8), nullable=False),
    Column("trade_date", Date),
    Column("code", String(12)),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    Column("source", String(16)),
    Column("rows", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # the process ("host:pid:tag") that last claimed the item; NULL: claimed by no worker
    Column("claimed_by", Text),
    # times a worker died while running it (the first one costs no attempt)
    Column("interruptions", Integer, nullable=False, server_default="0"),
    UniqueConstraint("run_id", "unit_key"),
)
Index("ix_sync_items_run_id_status", sync_items.c.run_id, sync_items.c.status)
Index("ix_sync_items_unit_key_status", sync_items.c.unit_key, sync_items.c.status)

# What each unit stored, per dataset: the ledger's proof. A unit is done for a dataset only when
# its row here says "stored" (every expected row arrived); coverage and skips read this table.
sync_item_datasets = Table(
    "sync_item_datasets",
    metadata,
    Column(
        "item_id",
        BigInteger,
        ForeignKey("sync_items.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("dataset", String(24), primary_key=True),
    Column("status", String(16), nullable=False),  # stored / incomplete / failed
    Column("source", String(16)),
    Column("rows_received", Integer, nullable=False, server_default="0"),
    Column("rows_written", Integer, nullable=False, server_default="0"),
    Column("missing", Integer, nullable=False, server_default="0"),
    Column("detail", Text),  # what is missing or why it failed, for people
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index(
    "ix_sync_item_datasets_dataset_status",
    sync_item_datasets.c.dataset,
    sync_item_datasets.c.status,
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("run_id", Integer, ForeignKey("sync_runs.id", ondelete="CASCADE"), nullable=False),
    Column("item_id", BigInteger, ForeignKey("sync_items.id", ondelete="CASCADE")),
    Column("source", String(16), nullable=False),
    Column("code", String(12), nullable=False),
    Column("period", String(8), nullable=False),
    Column("dataset", String(24), nullable=False, server_default="bars"),
    Column("trade_date", Date, nullable=False),
    Column("reason", Text, nullable=False),
    Column("row", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_quarantine_run_id", quarantine.c.run_id)

# Overrides of the built-in beat schedules (stocksync.schedules.definitions); NULL: the default.
schedules = Table(
    "schedules",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("cron", String(120)),
    Column("enabled", Boolean, nullable=False, server_default="true"),
    Column("body", JSONB(none_as_null=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
