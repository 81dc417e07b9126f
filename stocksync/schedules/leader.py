"""A leader lease in Redis: of several processes competing for one role, exactly one holds it.

The holder renews the lease well within its TTL; when it dies the lease lapses and another
process takes over within ``ttl_s``. Renewal and release check the holder's token, so a process
that lost the lease (it stalled past the TTL) can neither extend nor delete another's.
"""

from __future__ import annotations

import os
import socket
import uuid

import redis

from stocksync.coordination.lock import RELEASE_IF_OURS

_HOLD = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if current then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


class LeaderLease:
    """One process's claim on the lease ``key``."""

    def __init__(self, client: redis.Redis, key: str, ttl_s: float) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = int(ttl_s * 1000)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def hold(self) -> bool:
        """Take the lease if it is free, or renew it if this process holds it. False: another
        process leads (or Redis cannot be reached)."""
        try:
            return bool(self.client.eval(_HOLD, 1, self.key, self.token, self.ttl_ms))
        except redis.RedisError:
            return False

    def holder(self) -> str | None:
        """The token of the process that holds the lease, if any."""
        raw = self.client.get(self.key)
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def release(self) -> bool:
        """Give the lease up if this process holds it (so another takes over at once)."""
        try:
            return bool(self.client.eval(RELEASE_IF_OURS, 1, self.key, self.token))
        except redis.RedisError:
            return False
