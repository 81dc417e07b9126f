"""The datasets stocksync stores, one module each, and the registry that names them.

Fact datasets (``bars``, ``adj_factors``, ``valuations`` of the stocks; ``index_bars`` and
``index_members`` of the main indices; the stocks' events ``corporate_actions``, ``profiles``
and ``financials``) are planned in units of work per period; reference
datasets (``securities``, ``trade_calendar``) are refreshed while a run is planned. See the
README's "Adding a dataset".
"""

from __future__ import annotations

from stocksync.datasets.adj_factors import ADJ_FACTORS
from stocksync.datasets.bars import BARS
from stocksync.datasets.base import Dataset, Key, RejectedRow
from stocksync.datasets.corporate_actions import CORPORATE_ACTIONS
from stocksync.datasets.financials import FINANCIALS
from stocksync.datasets.index_bars import INDEX_BARS
from stocksync.datasets.index_members import INDEX_MEMBERS
from stocksync.datasets.minute_bars import MINUTE_BARS
from stocksync.datasets.profiles import PROFILES
from stocksync.datasets.valuations import VALUATIONS
from stocksync.domain import DatasetName, Period

__all__ = ["FACT_DATASETS", "REFERENCE_DATASETS", "Dataset", "Key", "RejectedRow", "dataset"]

FACT_DATASETS: dict[DatasetName, Dataset[object]] = {
    d.name: d  # type: ignore[misc]
    for d in (
        BARS,
        ADJ_FACTORS,
        VALUATIONS,
        INDEX_BARS,
        INDEX_MEMBERS,
        CORPORATE_ACTIONS,
        PROFILES,
        FINANCIALS,
        MINUTE_BARS,
    )
}
REFERENCE_DATASETS = (DatasetName.SECURITIES, DatasetName.TRADE_CALENDAR)


def dataset(name: str | DatasetName) -> Dataset[object]:
    """The fact dataset called ``name``; KeyError for a reference or unknown one."""
    return FACT_DATASETS[DatasetName(name)]


def datasets_of_period(names: tuple[str, ...], period: Period) -> tuple[DatasetName, ...]:
    """Those of ``names`` that are fact datasets with ``period``, in registry order."""
    wanted = {DatasetName(n) for n in names if n in FACT_DATASETS}
    return tuple(n for n, d in FACT_DATASETS.items() if n in wanted and period in d.periods)
