"""Faults a fake source server can be told to inject, switched at runtime from a test."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields


@dataclass
class Faults:
    """What the next replies of a fake server should do. Servers read it on every request.

    - ``latency_s``: sleep before answering;
    - ``rate_limit``: answer with the source's own rate-limit reply;
    - ``http_500`` / ``server_error``: answer with a server error (HTTP 500, or the protocol's
      internal-error code);
    - ``bad_json``: answer with a body that is not valid for the protocol;
    - ``stall``: accept the request and never answer (until the fault is cleared);
    - ``drop``: close the connection without answering;
    - ``garbage``: answer normally but with corrupted rows (high < low; volume in the wrong unit);
    - ``auth``: answer with the source's bad-token / no-permission reply.
    Each fault applies to every request until cleared (``times`` limits it to N requests).
    """

    latency_s: float = 0.0
    rate_limit: bool = False
    server_error: bool = False
    bad_json: bool = False
    stall: bool = False
    drop: bool = False
    garbage: bool = False
    auth: bool = False
    times: int | None = None
    requests_seen: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set(self, **changes: object) -> None:
        with self._lock:
            for name, value in changes.items():
                if name.startswith("_") or name not in {f.name for f in fields(self)}:
                    raise AttributeError(f"unknown fault {name!r}")
                setattr(self, name, value)

    def clear(self) -> None:
        with self._lock:
            for f in fields(self):
                if not f.name.startswith("_") and f.name != "requests_seen":
                    setattr(self, f.name, f.default)

    def take(self) -> Faults:
        """Count a request and return a snapshot of the faults that apply to it."""
        with self._lock:
            self.requests_seen += 1
            snapshot = Faults(**{
                f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")
            })  # fmt: skip
            if self.times is not None:
                self.times -= 1
                if self.times <= 0:
                    for f in fields(self):
                        if not f.name.startswith("_") and f.name not in ("requests_seen",):
                            setattr(self, f.name, f.default)
            return snapshot


class RecordingQuota:
    """A CallQuota that records its calls and answers from a script (0.0 once it runs out)."""

    def __init__(self, waits: list[float] | None = None) -> None:
        self.waits = list(waits or [])
        self.calls: list[tuple[str, int]] = []
        self.pauses: list[tuple[str, float]] = []

    def acquire(self, source: str, limit_per_minute: int) -> float:
        self.calls.append((source, limit_per_minute))
        return self.waits.pop(0) if self.waits else 0.0

    def pause(self, source: str, seconds: float) -> None:
        self.pauses.append((source, seconds))
