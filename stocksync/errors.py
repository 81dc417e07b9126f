"""Domain errors. Front ends (API, CLI) map these to HTTP statuses and exit codes."""

from __future__ import annotations


class StocksyncError(Exception):
    """Base class for every error stocksync raises on purpose."""


class InvalidRequest(StocksyncError):
    """The caller asked for something that cannot be done as asked (bad date, code, source...)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(StocksyncError):
    """The thing asked for does not exist."""


class RunConflict(StocksyncError):
    """Another run holds the single active-run lock."""

    def __init__(self, active_run_id: int | None, message: str | None = None) -> None:
        who = f"run {active_run_id}" if active_run_id is not None else "another run"
        super().__init__(message or f"{who} is active; wait for it to finish or cancel it")
        self.active_run_id = active_run_id


class ServiceUnavailable(StocksyncError):
    """PostgreSQL or Redis cannot be reached or started."""
