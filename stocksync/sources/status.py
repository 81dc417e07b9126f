"""What ``GET /api/v1/sources`` and ``stocksync sources`` show about each source."""

from __future__ import annotations

import datetime as dt
from typing import Any

from stocksync.context import Context


def source_statuses(ctx: Context, *, check: bool = True) -> list[dict[str, Any]]:
    """Each configured source in priority order: availability (and why not), rate limit,
    circuit state and last error. ``check`` asks each source whether it is reachable."""
    statuses = []
    for priority, name in enumerate(ctx.sources.names, start=1):
        entry: dict[str, Any] = {"name": name, "priority": priority}
        try:
            source = ctx.sources.get(name)
            availability = source.availability() if check else None
            configured = source.calls_per_minute or 0
            entry["available"] = availability.ok if availability else None
            entry["reason"] = availability.reason if availability else ""
            entry["shapes"] = sorted(s.value for s in source.shapes)
            entry["calls_per_minute"] = ctx.quota.effective_limit(name, configured) or None
        except Exception as exc:  # a source that cannot even be built is unavailable
            entry.update(available=False, reason=f"{type(exc).__name__}: {exc}")
        state = ctx.breaker.state(name)
        entry["circuit"] = "open" if state.open else "closed"
        entry["circuit_detail"] = state.describe()
        last = ctx.breaker.last_error(name)
        entry["last_error"] = (
            {"at": dt.datetime.fromtimestamp(last[0], dt.UTC).isoformat(), "message": last[1]}
            if last
            else None
        )
        statuses.append(entry)
    return statuses
