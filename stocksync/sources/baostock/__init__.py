"""Source ``baostock``: one stock or index over a date range through the unmodified
``baostock`` client, over its own TCP protocol (see :mod:`.session` for how one process shares
the client's single socket, and how stalled or closed connections are kept from hanging or
spinning a worker)."""

from stocksync.sources.baostock.source import BaostockSource, build_baostock_source

__all__ = ["BaostockSource", "build_baostock_source"]
