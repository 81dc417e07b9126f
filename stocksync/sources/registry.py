"""Which sources exist, which are configured, and one instance of each per process."""

from __future__ import annotations

from collections.abc import Callable

from stocksync.config import REAL_SOURCES_BY_PRIORITY, Settings
from stocksync.errors import InvalidRequest
from stocksync.sources.base import CallQuota, Source

SourceFactory = Callable[[Settings, CallQuota | None], Source]


def _sim(settings: Settings, quota: CallQuota | None) -> Source:
    from stocksync.sources.sim import build_sim_source  # sources import their clients lazily

    return build_sim_source(settings.sim, quota)


def _tushare(settings: Settings, quota: CallQuota | None) -> Source:
    from stocksync.sources.tushare import build_tushare_source

    return build_tushare_source(settings, quota)


def _baostock(settings: Settings, quota: CallQuota | None) -> Source:
    from stocksync.sources.baostock import build_baostock_source

    return build_baostock_source(settings, quota)


def _akshare(settings: Settings, quota: CallQuota | None) -> Source:
    from stocksync.sources.akshare import build_akshare_source

    return build_akshare_source(settings, quota)


FACTORIES: dict[str, SourceFactory] = {
    "sim": _sim,
    "tushare": _tushare,
    "akshare": _akshare,
    "baostock": _baostock,
}


def default_order(settings: Settings) -> tuple[str, ...]:
    """tushare (only with a token) > akshare > baostock, unless *_PRIORITY settings reorder
    them (1 is first); only sources stocksync has an adapter for."""
    names = [
        name
        for name in REAL_SOURCES_BY_PRIORITY
        if name in FACTORIES and (name != "tushare" or settings.tushare_token)
    ]
    rank = {name: settings.source_priorities.get(name, i + 1) for i, name in enumerate(names)}
    return tuple(sorted(names, key=lambda name: (rank[name], names.index(name))))


class SourceRegistry:
    """The configured sources in priority order, built lazily and kept for the process."""

    def __init__(self, settings: Settings, quota: CallQuota | None = None) -> None:
        configured = settings.sources if settings.sources is not None else default_order(settings)
        unknown = [name for name in configured if name not in FACTORIES]
        if unknown:
            raise InvalidRequest(
                f"STOCKSYNC_SOURCES names unknown source(s): {', '.join(unknown)}; "
                f"known: {', '.join(FACTORIES)}"
            )
        self.settings = settings
        self.quota = quota
        self._names = configured
        self._built: dict[str, Source] = {}

    @property
    def names(self) -> tuple[str, ...]:
        """The default sources of a run, highest priority first."""
        return self._names

    @property
    def known(self) -> tuple[str, ...]:
        """Every source a run may name (the simulated market included)."""
        return tuple(FACTORIES)

    def get(self, name: str) -> Source:
        if name not in FACTORIES:
            raise InvalidRequest(f"unknown source {name!r}", field="sources")
        if name not in self._built:
            self._built[name] = FACTORIES[name](self.settings, self.quota)
        return self._built[name]

    def close(self) -> None:
        for source in self._built.values():
            source.close()
        self._built.clear()
