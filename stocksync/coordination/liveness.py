"""Which worker processes are alive: a key per process with a short TTL, renewed by one
heartbeat thread per process (not one per task).

A process that claims a unit records its identity on the claim; when its key has expired the
process is dead (SIGKILL, OOM, a lost host), and the units it left ``running`` can be run again
at once instead of waiting for the lock to lapse or the broker to deliver the message again.

A worker's main process also records the units whose messages it holds (received, not yet
done — prefetched, or waiting out a retry countdown): when it dies those messages die with it,
and its units still pending are enqueued again rather than left to the broker's visibility
timeout.

The absence of a key proves death only when Redis has kept its keys for at least one TTL: after
Redis restarted, or lost its data (no epoch key, or the warming key still set), nothing is
judged until every live process has had time to beat again.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Iterable

import redis

ALIVE_PREFIX = "stocksync:alive:"  # + identity: one key per live process
MEMBERS_KEY = "stocksync:liveness:members"  # every identity that beat since it was last judged
EPOCH_KEY = "stocksync:liveness:epoch"  # set once, no TTL: gone means Redis lost its data
WARMING_KEY = "stocksync:liveness:warming"  # one TTL after the epoch was (re)set: judge nothing
HELD_PREFIX = "stocksync:liveness:held:"  # + identity: item id → messages held for it

_BEAT = """
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SET', KEYS[3], '1')
  redis.call('SET', KEYS[4], '1', 'PX', ARGV[2])
end
return 1
"""

_LET_GO = """
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n
"""


def process_identity() -> str:
    """``host:pid:random`` — unique to this process even when the pid is reused later."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Liveness:
    """Liveness keys on one Redis; ``ttl_s`` is how long a process counts as alive after its
    last beat."""

    def __init__(self, client: redis.Redis, ttl_s: float) -> None:
        self.client = client
        self.ttl_s = float(ttl_s)

    @property
    def beat_interval_s(self) -> float:
        """How often a live process beats: three times per TTL."""
        return self.ttl_s / 3

    def beat(self, identity: str) -> None:
        """Mark ``identity`` alive for one TTL (and known, so that its death is noticed)."""
        keys = (ALIVE_PREFIX + identity, MEMBERS_KEY, EPOCH_KEY, WARMING_KEY)
        self.client.eval(_BEAT, len(keys), *keys, identity, int(self.ttl_s * 1000))

    def leave(self, identity: str) -> None:
        """``identity`` stops cleanly (it holds no claim): forget it."""
        pipe = self.client.pipeline(transaction=False)
        pipe.delete(ALIVE_PREFIX + identity)
        pipe.srem(MEMBERS_KEY, identity)
        pipe.execute()

    def dead_among(self, identities: Iterable[str]) -> set[str] | None:
        """Those of ``identities`` whose key has expired; None when that cannot be judged yet
        (Redis restarted or lost its keys less than one TTL ago)."""
        wanted = sorted(set(identities))
        pipe = self.client.pipeline(transaction=False)
        pipe.exists(EPOCH_KEY)
        pipe.exists(WARMING_KEY)
        pipe.info("server")
        for identity in wanted:
            pipe.exists(ALIVE_PREFIX + identity)
        epoch, warming, info, *present = pipe.execute(raise_on_error=False)
        for answer in (epoch, warming, *present):
            if isinstance(answer, Exception):
                raise answer
        # a Redis that refuses INFO (some hosted ones) is judged by the epoch alone
        uptime = info.get("uptime_in_seconds", 0) if isinstance(info, dict) else self.ttl_s
        if not epoch or warming or int(uptime) < self.ttl_s:
            return None
        return {identity for identity, alive in zip(wanted, present, strict=True) if not alive}

    def dead_members(self) -> set[str]:
        """The known processes whose key has expired (none while that cannot be judged)."""
        raw: set[bytes | str] = self.client.smembers(MEMBERS_KEY)  # type: ignore[assignment]
        members = {m.decode() if isinstance(m, bytes) else m for m in raw}
        if not members:
            return set()
        return self.dead_among(members) or set()

    def forget(self, identities: Iterable[str]) -> None:
        """Stop watching ``identities`` (their death has been dealt with)."""
        names = list(identities)
        if names:
            self.client.srem(MEMBERS_KEY, *names)
            self.client.delete(*(HELD_PREFIX + name for name in names))

    def hold(self, identity: str, item_id: int, *, for_s: float) -> None:
        """``identity`` received a message for ``item_id`` (kept at most ``for_s``: the
        broker's visibility timeout)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hincrby(HELD_PREFIX + identity, str(item_id), 1)
        pipe.expire(HELD_PREFIX + identity, max(1, int(for_s)))
        pipe.execute()

    def let_go(self, identity: str, item_id: int) -> None:
        """A message for ``item_id`` that ``identity`` held is done (acknowledged or retried)."""
        self.client.eval(_LET_GO, 1, HELD_PREFIX + identity, str(item_id))

    def held(self, identities: Iterable[str]) -> set[int]:
        """The items whose messages ``identities`` held."""
        pipe = self.client.pipeline(transaction=False)
        for identity in identities:
            pipe.hgetall(HELD_PREFIX + identity)
        return {int(k) for found in pipe.execute() for k, n in found.items() if int(n) > 0}


class ProcessBeat:
    """This process's liveness: :meth:`start` beats once (raising when Redis is out of reach)
    and then renews the key from one daemon thread until :meth:`stop`."""

    def __init__(self, liveness: Liveness, identity: str | None = None) -> None:
        self.liveness = liveness
        self.identity = identity or process_identity()
        self.pid = os.getpid()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stocksync-liveness", daemon=True)

    def start(self) -> ProcessBeat:
        self.liveness.beat(self.identity)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.liveness.beat_interval_s):
            try:
                self.liveness.beat(self.identity)
            except Exception:  # a Redis blip: the next beat tries again
                continue

    def stop(self) -> None:
        """Stop beating and forget this process (call only when it holds no claim)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        try:
            self.liveness.leave(self.identity)
        except redis.RedisError:
            pass  # its key expires by itself
