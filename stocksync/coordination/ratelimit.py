"""Per-source call budgets shared by every worker process, kept in Redis.

A token bucket per source: ``burst`` calls may go at once, then calls are spaced evenly so that
no 60-second window ever holds more than 95 % of the per-minute limit (the rest is headroom for
calls that reach the server late). A limit a source reports in its own reply (tushare's
"每分钟最多访问该接口N次") tightens the bucket for a day, and a bucket whose server said its window
is full is paused (:meth:`TokenBucketQuota.pause`): no worker calls it until the window passed.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import redis

_TAKE = """
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return tostring(paused / 1000) end
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = capacity; ts = now end
if now > ts then tokens = math.min(capacity, tokens + (now - ts) * rate) end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(math.max(now, ts)))
redis.call('PEXPIRE', KEYS[1], 120000)
return tostring(wait)
"""
_PAUSE = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
return 1
"""
LEARNED_TTL_S = 24 * 3600


HEADROOM = 0.95  # grant 95 % of the limit: a call granted now may reach the server late


def bucket_shape(limit_per_minute: int) -> tuple[int, float]:
    """(burst, refill per second) that grant at most 95 % of ``limit_per_minute`` in any 60 s,
    so calls delayed on their way (a busy machine) still arrive within the server's limit."""
    burst = max(1, limit_per_minute // 10)
    rate = max(limit_per_minute * HEADROOM - burst, 1) / 60.0
    return burst, rate


class TokenBucketQuota:
    """The shared rate limiter. Implements :class:`stocksync.sources.base.CallQuota`."""

    def __init__(self, client: redis.Redis, *, max_block_s: float = 5.0) -> None:
        self.client = client
        # A wait this short is slept through: a unit that needs several calls (bars, factors,
        # valuations) would otherwise give back its slot and lose the tokens it already spent.
        self.max_block_s = max_block_s

    def _key(self, source: str) -> str:
        return f"stocksync:bucket:{source}"

    def effective_limit(self, source: str, configured: int) -> int:
        """The configured limit, or a lower one the source itself reported."""
        learned = self.client.get(f"{self._key(source)}:learned")
        if learned is None:
            return configured
        return min(configured, int(learned)) if configured > 0 else int(learned)

    def tighten(self, source: str, limit_per_minute: int) -> None:
        """Remember a limit the source reported (kept for a day; only ever lowers)."""
        if limit_per_minute <= 0:
            return
        key = f"{self._key(source)}:learned"
        current = self.client.get(key)
        if current is None or int(current) > limit_per_minute:
            self.client.set(key, limit_per_minute, ex=LEARNED_TTL_S)

    def pause(self, source: str, seconds: float) -> None:
        """Grant no call of ``source`` (a bucket) to any worker for ``seconds``: the server said
        its window is full. A pause already running longer is kept."""
        if seconds > 0:
            self.client.eval(_PAUSE, 1, self._pause_key(source), max(1, int(seconds * 1000)))

    def paused_for(self, source: str) -> float:
        """Seconds left of a pause of ``source`` (0.0: not paused)."""
        left = int(self.client.pttl(self._pause_key(source)))
        return left / 1000 if left > 0 else 0.0

    def _pause_key(self, source: str) -> str:
        return f"{self._key(source)}:paused"

    def acquire(self, source: str, limit_per_minute: int, *, now: float | None = None) -> float:
        """Take a token: 0.0 when the call may go now, else the seconds until one is free (or
        until a pause ends: a paused bucket grants nothing, whatever its limit).
        (``now`` is for tests; callers use the clock.)"""
        limit = self.effective_limit(source, limit_per_minute)
        keys = (self._key(source), self._pause_key(source))
        if limit <= 0:
            return self.paused_for(source)
        burst, rate = bucket_shape(limit)
        if now is not None:  # simulated time: no sleeping
            return float(self.client.eval(_TAKE, 2, *keys, burst, rate, now))
        deadline = time.monotonic() + self.max_block_s
        while True:
            wait = float(self.client.eval(_TAKE, 2, *keys, burst, rate, time.time()))
            if wait <= 0.0 or time.monotonic() + wait > deadline:
                return wait
            time.sleep(wait)


class InProcessQuota:
    """At most ``limit`` calls in any 60 s window within this process: the fallback for a
    source built without the shared quota (tests, one-off scripts)."""

    def __init__(self) -> None:
        self._calls: deque[float] = deque()
        self._paused: dict[str, float] = {}  # bucket → monotonic time its pause ends
        self._lock = threading.Lock()

    def pause(self, source: str, seconds: float) -> None:
        """Grant no call of ``source`` in this process for ``seconds``."""
        with self._lock:
            until = time.monotonic() + seconds
            self._paused[source] = max(until, self._paused.get(source, 0.0))

    def acquire(self, source: str, limit_per_minute: int) -> float:
        now = time.monotonic()
        with self._lock:
            if (until := self._paused.get(source, 0.0)) > now:
                return until - now
            while self._calls and self._calls[0] <= now - 60.0:
                self._calls.popleft()
            if len(self._calls) >= limit_per_minute:
                return max(0.001, self._calls[0] + 60.0 - now)
            self._calls.append(now)
            return 0.0
