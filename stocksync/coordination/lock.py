"""The single active-run lock, held in Redis with a TTL and a heartbeat, plus fencing numbers.

Only one run may be active. The lock's value names the run and its fencing number; every
worker working on the run extends it, so when all of them die it expires within ``ttl_s``.
The fencing number (INCR) is stored with the run; run-state writes check it, so a stale holder
cannot overwrite state after a newer run took the lock. Correctness of the data itself never
depends on the lock: every write is an idempotent upsert.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

LOCK_KEY = "stocksync:lock:active-run"
FENCE_KEY = "stocksync:lock:fence"

_EXTEND_IF_OURS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# Delete KEYS[1] only if it still holds our token ARGV[1] (shared with stocksync.schedules.leader).
RELEASE_IF_OURS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
_NEXT_FENCE = """
local v = redis.call('INCR', KEYS[1])
if v <= tonumber(ARGV[1]) then
  v = tonumber(ARGV[1]) + 1
  redis.call('SET', KEYS[1], v)
end
return v
"""
# Extend the lock to at least ARGV[2] ms (never shorten a longer hold); re-take a lapsed lock
# only if no newer fence was issued since.
_RETAKE = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
  return 1
end
if current then return 0 end
if tonumber(redis.call('GET', KEYS[2]) or '0') ~= tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


@dataclass(frozen=True)
class Holder:
    """Who holds the lock: a run and its fencing number."""

    run_id: int
    fence: int

    def token(self) -> str:
        return f"{self.run_id}:{self.fence}"

    @classmethod
    def parse(cls, raw: bytes | str | None) -> Holder | None:
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else raw
        run_id, _, fence = text.partition(":")
        return cls(int(run_id), int(fence))


class RunLock:
    """The active-run lock on one Redis."""

    def __init__(self, client: redis.Redis, ttl_s: int = 60) -> None:
        self.client = client
        self.ttl_ms = int(ttl_s * 1000)

    def next_fence(self, floor: int = 0) -> int:
        """Issue a new fencing number, strictly increasing and above ``floor`` (the highest one
        the database has seen, so a Redis that lost its data cannot issue an old number)."""
        return int(self.client.eval(_NEXT_FENCE, 1, FENCE_KEY, floor))

    def acquire(self, run_id: int, fence: int) -> bool:
        """Take the lock for ``run_id`` if nobody holds it."""
        token = Holder(run_id, fence).token()
        return bool(self.client.set(LOCK_KEY, token, nx=True, px=self.ttl_ms))

    def holder(self) -> Holder | None:
        return Holder.parse(self.client.get(LOCK_KEY))  # type: ignore[arg-type]

    def keep_alive(self, run_id: int, fence: int, *, for_s: float | None = None) -> bool:
        """Extend the lock (to the TTL, or ``for_s`` when longer; never shortening it) if
        ``run_id`` holds it, or re-take it if it lapsed and no newer run was started since.
        False means the run lost the lock to another run."""
        token = Holder(run_id, fence).token()
        ttl_ms = max(self.ttl_ms, int((for_s or 0) * 1000))
        return bool(self.client.eval(_RETAKE, 2, LOCK_KEY, FENCE_KEY, token, ttl_ms, fence))

    def extend(self, run_id: int, fence: int) -> bool:
        token = Holder(run_id, fence).token()
        return bool(self.client.eval(_EXTEND_IF_OURS, 1, LOCK_KEY, token, self.ttl_ms))

    def release(self, run_id: int, fence: int) -> bool:
        """Release the lock if ``run_id`` still holds it."""
        token = Holder(run_id, fence).token()
        return bool(self.client.eval(RELEASE_IF_OURS, 1, LOCK_KEY, token))

    def ttl_ms_left(self) -> int:
        return int(self.client.pttl(LOCK_KEY))


class Heartbeat:
    """Keeps a run's lock alive from a background thread while a unit is being worked on, so a
    slow source call does not let the lock lapse; stops when the ``with`` block ends."""

    def __init__(self, lock: RunLock, run_id: int, fence: int) -> None:
        import threading

        self._lock = lock
        self._run_id = run_id
        self._fence = fence
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="run-lock-heartbeat", daemon=True)

    def _beat(self) -> None:
        interval = max(0.5, self._lock.ttl_ms / 3000)
        while not self._stop.wait(interval):
            try:
                self._lock.keep_alive(self._run_id, self._fence)
            except Exception:  # a Redis blip: the next beat tries again
                continue

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
