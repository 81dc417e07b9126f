"""What the baostock stock-event modules share: the call they ask through, and what a reply
that cannot be the answer to its request does to the session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stocksync.sources.baostock.rows import NAME
from stocksync.sources.baostock.session import SESSION
from stocksync.sources.base import TransientSourceError

# BaostockSource._records: one library query (quota, session, watchdog, classified errors),
# its rows as dicts of the reply's fields
Records = Callable[[str, Callable[[Any], Any]], list[dict[str, str]]]


def bs_code(canonical: str) -> str:
    """``600000.SH`` -> ``sh.600000``."""
    return f"{canonical[7:].lower()}.{canonical[:6]}"


def out_of_step(what: str) -> TransientSourceError:
    """The reply belongs to another request: never keep it, and start a new session (a late
    reply on this one would be read as the answer to the next request)."""
    with SESSION.lock:
        SESSION.drop()
    return TransientSourceError(NAME, f"{what}: reply out of step with the request")


def unreadable(what: str, exc: Exception) -> TransientSourceError:
    return TransientSourceError(NAME, f"unreadable {what}: {exc!r}")
