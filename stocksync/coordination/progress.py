"""Live progress counters of a run, kept in Redis so every worker and front end sees them.

Each finished item is counted exactly once even when its message is delivered twice: the item id
goes into a set, and the counters move only when it was not there yet. When Redis loses the
counters they are rebuilt from the ledger (:func:`rebuild`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import redis

from stocksync.domain import ItemStatus

PREFIX = "stocksync:run"
TTL_S = 7 * 24 * 3600

_COUNT_ONCE = """
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
  redis.call('HINCRBY', KEYS[1], 'rows', ARGV[3])
  redis.call('HSET', KEYS[1], 'current_date', ARGV[4], 'updated_at', ARGV[5])
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return redis.call('HMGET', KEYS[1], 'total', 'success', 'failed', 'skipped')
"""


def _keys(run_id: int) -> tuple[str, str]:
    return f"{PREFIX}:{run_id}:progress", f"{PREFIX}:{run_id}:finished"


@dataclass(frozen=True)
class Counters:
    """A snapshot of a run's counters."""

    total: int
    success: int
    failed: int
    skipped: int
    rows: int
    current_date: str | None
    started_at: float | None
    updated_at: float | None

    @property
    def done(self) -> int:
        return self.success + self.failed + self.skipped

    @property
    def pending(self) -> int:
        return max(0, self.total - self.done)

    @property
    def complete(self) -> bool:
        return self.done >= self.total

    @property
    def percent(self) -> float:
        return 100.0 if self.total == 0 else round(100.0 * self.done / self.total, 2)

    def eta_s(self, now: float) -> float | None:
        """Seconds left at the rate observed since the run started (None before any work)."""
        worked = self.success + self.failed
        if self.started_at is None or worked == 0 or self.complete:
            return None if not self.complete else 0.0
        rate = worked / max(now - self.started_at, 1e-6)
        return round(self.pending / rate, 1)


def _now() -> float:
    return dt.datetime.now(dt.UTC).timestamp()


def initialise(
    client: redis.Redis, run_id: int, *, total: int, skipped: int, started_at: float | None = None
) -> None:
    """Start counting for a run: ``total`` items of which ``skipped`` are already done."""
    counts = {ItemStatus.PENDING: total - skipped, ItemStatus.SKIPPED: skipped}
    _write(client, run_id, counts=counts, finished_ids=[], rows=0, started_at=started_at)


def count_finished(
    client: redis.Redis,
    run_id: int,
    item_id: int,
    status: ItemStatus,
    *,
    rows: int,
    label: str,
) -> Counters | None:
    """Count one finished item (once, however often called) and return the new counters."""
    progress, finished = _keys(run_id)
    if not client.exists(progress):
        return None
    client.eval(
        _COUNT_ONCE, 2, progress, finished, item_id, status.value, rows, label, _now(), TTL_S
    )
    return read(client, run_id)


def add_units(client: redis.Redis, run_id: int, count: int) -> None:
    """A unit was split: ``count`` more units now belong to the run."""
    progress, _ = _keys(run_id)
    if count and client.exists(progress):
        client.hincrby(progress, "total", count)


def forget(client: redis.Redis, run_id: int) -> None:
    """Drop a run's counters (its ledger was cleared)."""
    client.delete(*_keys(run_id))


def read(client: redis.Redis, run_id: int) -> Counters | None:
    """The run's counters, or None when Redis has none (lost, expired or never set)."""
    progress, _ = _keys(run_id)
    raw: Mapping[bytes, bytes] = client.hgetall(progress)  # type: ignore[assignment]
    if not raw or b"total" not in raw:
        return None
    data = {k.decode(): v.decode() for k, v in raw.items()}
    return Counters(
        total=int(data.get("total", 0)),
        success=int(data.get("success", 0)),
        failed=int(data.get("failed", 0)),
        skipped=int(data.get("skipped", 0)),
        rows=int(data.get("rows", 0)),
        current_date=data.get("current_date"),
        started_at=float(data["started_at"]) if "started_at" in data else None,
        updated_at=float(data["updated_at"]) if "updated_at" in data else None,
    )


def rebuild(
    client: redis.Redis,
    run_id: int,
    *,
    counts: Mapping[ItemStatus, int],
    finished_ids: list[int],
    rows: int,
    started_at: float | None,
) -> Counters:
    """Recreate the counters from the ledger (after Redis lost them)."""
    _write(client, run_id, counts=counts, finished_ids=finished_ids, rows=rows,
           started_at=started_at)  # fmt: skip
    counters = read(client, run_id)
    assert counters is not None
    return counters


def _write(
    client: redis.Redis,
    run_id: int,
    *,
    counts: Mapping[ItemStatus, int],
    finished_ids: list[int],
    rows: int,
    started_at: float | None,
) -> None:
    progress, finished = _keys(run_id)
    total = sum(counts.values())
    pipe = client.pipeline()
    pipe.delete(progress, finished)
    pipe.hset(
        progress,
        mapping={
            "total": total,
            "success": counts.get(ItemStatus.SUCCESS, 0),
            "failed": counts.get(ItemStatus.FAILED, 0),
            "skipped": counts.get(ItemStatus.SKIPPED, 0),
            "rows": rows,
            "started_at": started_at if started_at is not None else _now(),
        },
    )
    if finished_ids:
        pipe.sadd(finished, *finished_ids)
    pipe.expire(progress, TTL_S)
    pipe.expire(finished, TTL_S)
    pipe.execute()
