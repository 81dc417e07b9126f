"""A per-source call quota shared by every worker process, kept in Redis."""

from __future__ import annotations

import time

import redis

_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class RedisMinuteQuota:
    """Fixed one-minute windows: at most ``limit`` calls per source per wall-clock minute,
    counted across all processes that share the Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def acquire(self, source: str, limit_per_minute: int) -> float:
        """0.0 when the call may go ahead, else the seconds until the next window opens."""
        if limit_per_minute <= 0:
            return 0.0
        now = time.time()
        window = int(now // 60)
        key = f"stocksync:quota:{source}:{window}"
        count = int(self.client.eval(_HIT, 1, key, 61_000))
        if count <= limit_per_minute:
            return 0.0
        return max(0.05, (window + 1) * 60 - now)
