"""Stock code normalisation: users may write ``600000``, ``sh.600000``, ``SH600000`` or
``600000.SH``; stocksync stores ``600000.SH`` / ``000001.SZ`` / ``920002.BJ``."""

from __future__ import annotations

import re

from stocksync.domain import Board, Exchange
from stocksync.errors import InvalidRequest

_CANONICAL = re.compile(r"^(\d{6})\.(SH|SZ|BJ)$")
_PREFIXED = re.compile(r"^(SH|SZ|BJ)\.?(\d{6})$")
_BARE = re.compile(r"^\d{6}$")


def exchange_of(digits: str) -> Exchange:
    """The exchange a six-digit A-share code trades on."""
    if digits[0] == "6":
        return Exchange.SH
    if digits[0] in "03":
        return Exchange.SZ
    if digits[0] in "489":
        return Exchange.BJ
    raise InvalidRequest(f"{digits!r} is not an A-share stock code", field="symbols")


def board_of(digits: str) -> Board:
    """The board of a six-digit A-share code."""
    if digits.startswith(("688", "689")):
        return Board.STAR
    if digits.startswith(("300", "301", "302")):
        return Board.CHINEXT
    if exchange_of(digits) is Exchange.BJ:
        return Board.BSE
    return Board.MAIN


def normalize_code(raw: str) -> str:
    """Return the canonical ``NNNNNN.XX`` form of ``raw`` or raise :class:`InvalidRequest`."""
    text = raw.strip().upper()
    if m := _CANONICAL.match(text):
        digits, suffix = m.groups()
        if exchange_of(digits).value != suffix:
            raise InvalidRequest(
                f"{raw!r}: code {digits} does not trade on exchange {suffix}", field="symbols"
            )
        return text
    if m := _PREFIXED.match(text):
        suffix, digits = m.groups()
        if exchange_of(digits).value != suffix:
            raise InvalidRequest(
                f"{raw!r}: code {digits} does not trade on exchange {suffix}", field="symbols"
            )
        return f"{digits}.{suffix}"
    if _BARE.match(text):
        return f"{text}.{exchange_of(text).value}"
    raise InvalidRequest(
        f"{raw!r} is not a stock code; write 600000, sh.600000 or 600000.SH", field="symbols"
    )


def digits_of(code: str) -> str:
    """The six digits of a canonical code."""
    return code[:6]
