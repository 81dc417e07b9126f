"""Which sources exist, which are configured, and one instance of each per process."""

from __future__ import annotations

from collections.abc import Callable

from stocksync.config import Settings
from stocksync.errors import InvalidRequest
from stocksync.sources.base import CallQuota, Source

SourceFactory = Callable[[Settings, CallQuota | None], Source]


def _sim(settings: Settings, quota: CallQuota | None) -> Source:
    from stocksync.sources.sim import build_sim_source  # sources import their clients lazily

    return build_sim_source(settings.sim, quota)


FACTORIES: dict[str, SourceFactory] = {"sim": _sim}


class SourceRegistry:
    """The configured sources in priority order, built lazily and kept for the process."""

    def __init__(self, settings: Settings, quota: CallQuota | None = None) -> None:
        unknown = [name for name in settings.sources if name not in FACTORIES]
        if unknown:
            raise InvalidRequest(
                f"STOCKSYNC_SOURCES names unknown source(s): {', '.join(unknown)}; "
                f"known: {', '.join(FACTORIES)}"
            )
        self.settings = settings
        self.quota = quota
        self._built: dict[str, Source] = {}

    @property
    def names(self) -> tuple[str, ...]:
        """Configured source names, highest priority first."""
        return self.settings.sources

    def get(self, name: str) -> Source:
        if name not in self.names:
            raise InvalidRequest(f"source {name!r} is not configured", field="sources")
        if name not in self._built:
            self._built[name] = FACTORIES[name](self.settings, self.quota)
        return self._built[name]

    def close(self) -> None:
        for source in self._built.values():
            source.close()
        self._built.clear()
