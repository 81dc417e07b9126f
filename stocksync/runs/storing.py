"""Storing what one unit fetched: each dataset's rows through its registry writer, the ledger's
per-dataset record of it, the quarantined rows, and the item's status — in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field

from stocksync.context import Context
from stocksync.datasets import RejectedRow, dataset
from stocksync.datasets.quarantine import quarantine_rows
from stocksync.domain import DatasetName, ItemStatus
from stocksync.runs import dataset_ledger, ledger
from stocksync.runs.dataset_ledger import INCOMPLETE, STORED, DatasetRecord
from stocksync.runs.fetching import Fetched
from stocksync.runs.ledger import ItemRecord, RunRecord


@dataclass
class UnitResult:
    """What a unit gathered so far: each dataset's complete reply, the best incomplete one of
    each dataset still open, and every rejected row (to quarantine) with its source."""

    earlier: dict[DatasetName, DatasetRecord] = field(default_factory=dict)
    complete: dict[DatasetName, Fetched] = field(default_factory=dict)
    partial: dict[DatasetName, Fetched] = field(default_factory=dict)
    rejected: list[tuple[str, RejectedRow]] = field(default_factory=list)
    _written: set[DatasetName] = field(default_factory=set)

    def add(self, found: dict[DatasetName, Fetched]) -> None:
        for name, fetched in found.items():
            self.rejected += [(fetched.source, r) for r in fetched.verdict.rejected]
            if fetched.verdict.complete:
                self.complete.setdefault(name, fetched)
                self.partial.pop(name, None)
                continue
            best = self.partial.get(name)
            if best is None or _better(fetched, best):
                self.partial[name] = fetched

    def source(self) -> str | None:
        """The source that served the unit: the one of its bars, else of any dataset."""
        for found in (self.complete, self.partial):
            if DatasetName.BARS in found:
                return found[DatasetName.BARS].source
        served = [*self.complete.values(), *self.partial.values()]
        if served:
            return served[0].source
        return next((r.source for r in self.earlier.values() if r.source), None)


def _better(new: Fetched, old: Fetched) -> bool:
    """Fewer keys missing wins; then fewer invalid rows."""
    a, b = new.verdict, old.verdict
    return (len(a.missing), len(a.rejected)) < (len(b.missing), len(b.rejected))


def store_unit(
    ctx: Context,
    run: RunRecord,
    item: ItemRecord,
    result: UnitResult,
    *,
    status: ItemStatus | None,
    error: str | None,
) -> tuple[int, str | None]:
    """Write the complete datasets not yet written (and, when the item fails, the good rows of
    each incomplete one), record each per dataset, quarantine the rejected rows, and with a
    ``status`` finish the item. Returns the item's rows and the source that served it."""
    records: list[DatasetRecord] = []
    stored: dict[DatasetName, int] = {n: r.rows_received for n, r in result.earlier.items()
                                      if r.status == STORED}  # fmt: skip
    with ctx.engine.begin() as conn:
        for name, fetched in result.complete.items():
            if name in result._written:
                continue
            written = dataset(name).write(conn, fetched.verdict.good, source=fetched.source)
            records.append(
                DatasetRecord(name, STORED, fetched.source, len(fetched.verdict.good), written)
            )
            result._written.add(name)
            stored[name] = len(fetched.verdict.good)
        if status is ItemStatus.FAILED:
            for name, fetched in result.partial.items():
                good = fetched.verdict.good
                written = dataset(name).write(conn, good, source=fetched.source) if good else 0
                records.append(
                    DatasetRecord(
                        name, INCOMPLETE, fetched.source, len(good), written,
                        len(fetched.verdict.missing), fetched.verdict.describe_missing() or None,
                    )
                )  # fmt: skip
                stored[name] = len(good)  # a failed unit's rows are the good ones it kept
        dataset_ledger.record_datasets(conn, item.id, records)
        by_source: dict[str, list[RejectedRow]] = {}
        for source, row in result.rejected:
            by_source.setdefault(source, []).append(row)
        for source, rejected in by_source.items():
            quarantine_rows(conn, rejected, run_id=run.id, item_id=item.id, source=source)
        result.rejected.clear()
        rows = stored.get(DatasetName.BARS, sum(stored.values()))
        served_by = result.source()
        if status is not None:
            ledger.finish_item(
                conn, item.id, status=status, rows=rows, source=served_by, error=error
            )
    return rows, served_by
