"""Chaos-bench probe, loaded only by the worker processes the chaos bench starts (its
directory is put first on their ``PYTHONPATH``): appends one line per simulated-source call
— ``<method> <outcome>`` — to ``$CHAOS_CALL_LOG/<pid>.calls``, so the bench can count the
calls a run really made. It changes no behaviour; product code never loads it."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def _install(directory: str) -> None:
    from stocksync.sources import sim
    from stocksync.sources.base import RateLimitedError

    original: Callable[..., Any] = sim.SimSource._call

    def counted(self: Any, what: str, fetch: Callable[[], Any]) -> Any:
        outcome = "ok"
        try:
            return original(self, what, fetch)
        except RateLimitedError:
            outcome = "limited"
            raise
        except BaseException as exc:
            outcome = type(exc).__name__
            raise
        finally:
            path = os.path.join(directory, f"{os.getpid()}.calls")  # the pid after fork
            with open(path, "a") as log:
                log.write(f"{what} {outcome}\n")

    sim.SimSource._call = counted  # type: ignore[method-assign]


if _directory := os.environ.get("CHAOS_CALL_LOG"):
    _install(_directory)
