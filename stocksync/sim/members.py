"""The simulated market's index members: which stocks each main index holds, with weights,
a pure function of (seed, market, index, date).

Members change twice a year (from the first trading day of January and of July, like the
CSI indices' June and December reviews): the stocks eligible then — listed at least 90 days
before on the index's boards — are ranked by a hashed size score, and each index takes its
slice (CSI 300 the top, CSI 500 the next, CSI 1000 the next; SSE 50 the top of Shanghai's
main board; the board indices the top of their board). A member delisted later drops out of
the snapshots after it. A small market's indices are scaled down with it. Weights (percent,
four decimals) are proportional to a hashed cap; those of a snapshot sum to about 100.
The SSE Composite holds every Shanghai stock and is no members index here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from stocksync.domain import Board, Exchange, IndexMember, Security

# index -> (boards it draws from, exchanges, slice of the ranking (first, size), size of that
# universe in the real market, used to scale a smaller simulated market)
_A_SHARES = (Board.MAIN, Board.STAR, Board.CHINEXT)
_RULES: dict[str, tuple[tuple[Board, ...], tuple[Exchange, ...], int, int, int]] = {
    "000016.SH": ((Board.MAIN,), (Exchange.SH,), 0, 50, 1700),
    "000300.SH": (_A_SHARES, (Exchange.SH, Exchange.SZ), 0, 300, 5000),
    "000905.SH": (_A_SHARES, (Exchange.SH, Exchange.SZ), 300, 500, 5000),
    "000852.SH": (_A_SHARES, (Exchange.SH, Exchange.SZ), 800, 1000, 5000),
    "000688.SH": ((Board.STAR,), (Exchange.SH,), 0, 50, 570),
    "399001.SZ": ((Board.MAIN, Board.CHINEXT), (Exchange.SZ,), 0, 500, 2800),
    "399006.SZ": ((Board.CHINEXT,), (Exchange.SZ,), 0, 100, 1300),
    "899050.BJ": ((Board.BSE,), (Exchange.BJ,), 0, 50, 250),
}
MEMBER_INDICES = tuple(_RULES)
SEASONING_DAYS = 90


def _score(seed: int, code: str, epoch: dt.date, stream: str) -> float:
    digest = hashlib.blake2b(f"{seed}:{code}:{epoch}:{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def epoch_of(day: dt.date) -> dt.date:
    """The start of the half-year whose membership holds on ``day``."""
    return dt.date(day.year, 1 if day.month < 7 else 7, 1)


def sim_members(
    seed: int, securities: Sequence[Security], index_code: str, day: dt.date
) -> list[IndexMember]:
    """The members of ``index_code`` as they stand on ``day`` (its snapshot dated ``day``),
    sorted by code; KeyError for an index that has none here."""
    boards, exchanges, first, size, universe = _RULES[index_code]
    epoch = epoch_of(day)
    cutoff = epoch - dt.timedelta(days=SEASONING_DAYS)
    eligible = [
        s for s in securities
        if s.board in boards and s.exchange in exchanges and s.list_date <= cutoff
        and (s.delist_date is None or s.delist_date > epoch)
    ]  # fmt: skip
    scale = min(1.0, len(eligible) / universe)
    lo, n = round(first * scale), max(1, round(size * scale))
    ranked = sorted(eligible, key=lambda s: (-_score(seed, s.code, epoch, "size"), s.code))
    chosen = [s for s in ranked[lo : lo + n] if s.delist_date is None or s.delist_date > day]
    if not chosen:
        return []
    caps = {s.code: 0.2 + _score(seed, s.code, epoch, "cap") ** 2 for s in chosen}
    total = sum(caps.values())
    return [
        IndexMember(index_code, code, day, round(100 * cap / total, 4))
        for code, cap in sorted(caps.items())
    ]
