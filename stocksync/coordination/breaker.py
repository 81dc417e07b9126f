"""A circuit breaker per source, shared by every worker through Redis.

After ``threshold`` transient failures within ``window_s`` — or at once on a ban signature or a
fatal error such as a bad token — the source is skipped for a cool-down, and the reason is kept
so the ledger and ``GET /api/v1/sources`` can say why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

_FAIL = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


@dataclass(frozen=True)
class BreakerState:
    source: str
    open: bool
    until: float | None
    reason: str | None
    recent_failures: int

    def describe(self) -> str:
        if not self.open or self.until is None:
            return "closed"
        left = max(0, round(self.until - time.time()))
        return f"open for {left} s more: {self.reason}"


class CircuitBreaker:
    """Per-source breaker state in Redis."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        threshold: int = 5,
        window_s: int = 60,
        cooldown_s: float = 120.0,
    ) -> None:
        self.client = client
        self.threshold = threshold
        self.window_s = window_s
        self.cooldown_s = cooldown_s

    def _keys(self, source: str) -> tuple[str, str]:
        base = f"stocksync:breaker:{source}"
        return f"{base}:failures", f"{base}:open"

    def record_failure(self, source: str, reason: str) -> bool:
        """Count a transient failure; returns True when this opened the breaker."""
        failures, _ = self._keys(source)
        self.client.set(f"stocksync:breaker:{source}:last", f"{time.time()}|{reason}", ex=86400)
        count = int(self.client.eval(_FAIL, 1, failures, self.window_s))
        if count >= self.threshold:
            self.trip(source, f"{count} failures in {self.window_s} s; last: {reason}")
            return True
        return False

    def record_success(self, source: str) -> None:
        failures, _ = self._keys(source)
        self.client.delete(failures)

    def trip(self, source: str, reason: str, cooldown_s: float | None = None) -> None:
        """Open the breaker for ``cooldown_s`` (default: the breaker's cool-down)."""
        failures, opened = self._keys(source)
        seconds = max(1.0, cooldown_s if cooldown_s is not None else self.cooldown_s)
        until = time.time() + seconds
        pipe = self.client.pipeline()
        pipe.set(f"stocksync:breaker:{source}:last", f"{time.time()}|{reason}", ex=86400)
        pipe.hset(opened, mapping={"until": until, "reason": reason})
        pipe.pexpire(opened, int(seconds * 1000))
        pipe.delete(failures)
        pipe.execute()

    def reset(self, source: str) -> None:
        self.client.delete(*self._keys(source))

    def last_error(self, source: str) -> tuple[float, str] | None:
        """When and why the source last failed (kept a day), or None."""
        raw = self.client.get(f"stocksync:breaker:{source}:last")
        if raw is None:
            return None
        when, _, reason = raw.decode().partition("|")  # type: ignore[union-attr]
        return float(when), reason

    def state(self, source: str) -> BreakerState:
        failures, opened = self._keys(source)
        raw = self.client.hgetall(opened)
        recent = int(self.client.get(failures) or 0)
        if not raw:
            return BreakerState(source, False, None, None, recent)
        data = {k.decode(): v.decode() for k, v in raw.items()}  # type: ignore[union-attr]
        until = float(data["until"])
        return BreakerState(source, until > time.time(), until, data.get("reason"), recent)

    def is_open(self, source: str) -> bool:
        return self.state(source).open
