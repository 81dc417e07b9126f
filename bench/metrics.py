"""The derived numbers the benchmark reports, and what each one means."""

from __future__ import annotations

DEFINITIONS: dict[str, str] = {
    "units_per_s": "units of the timed run ÷ its seconds (create_run → the run's finished_at)",
    "bars_per_s": "bars the timed run stored ÷ its seconds",
    "e2e_raw_ratio": (
        "end-to-end bars/s ÷ raw COPY+merge bars/s for the same rows, measured in this run "
        "(raw = write_bars in one process, one transaction per trade date); 1.0 would mean "
        "orchestration, the source and validation cost nothing"
    ),
    "overhead_s_per_unit": (
        "(e2e seconds − (generate + raw ingest seconds for the same rows in the same unit "
        "shape) ÷ slots) ÷ units, where per date = bars_for_date + one write_bars "
        "transaction per date and per stock = bars_for_code + one transaction per stock: the "
        "wall-clock seconds each unit costs beyond that in-process work spread perfectly over "
        "the worker slots (create_run's planning, ledger and dispatch; Celery delivery; the "
        "item claim/finish; validation; Redis progress; run lock heartbeat). A slot spends "
        "slots × this per unit"
    ),
    "latency_efficiency": (
        "units/s at the configured per-call latency ÷ the ideal slots ÷ latency (what the "
        "slots could do if a unit cost nothing but waiting for the source)"
    ),
    "latency_added_s_per_unit_per_slot": (
        "slots × (e2e seconds at latency − e2e seconds at 0 ms) ÷ units: how much of the "
        "latency each unit adds to a slot's time; ≈ the latency when nothing overlaps it"
    ),
}


def rate(count: float, seconds: float) -> float:
    """``count`` per second (0 when no time passed)."""
    return count / seconds if seconds > 0 else 0.0


def overhead_per_unit(e2e_s: float, work_s: float, slots: int, units: int) -> float:
    """See ``DEFINITIONS['overhead_s_per_unit']``; ``work_s`` = generate + raw ingest seconds."""
    return (e2e_s - work_s / max(1, slots)) / max(1, units)


def e2e_raw_ratio(e2e_bars_per_s: float, raw_bars_per_s: float) -> float:
    """See ``DEFINITIONS['e2e_raw_ratio']``."""
    return e2e_bars_per_s / raw_bars_per_s if raw_bars_per_s > 0 else 0.0


def latency_efficiency(units_per_s: float, slots: int, latency_ms: float) -> float | None:
    """See ``DEFINITIONS['latency_efficiency']`` (None at zero latency: no ideal)."""
    if latency_ms <= 0:
        return None
    return units_per_s / (slots / (latency_ms / 1000.0))


def added_per_unit_per_slot(
    e2e_latency_s: float, e2e_zero_s: float, slots: int, units: int
) -> float:
    """See ``DEFINITIONS['latency_added_s_per_unit_per_slot']``."""
    return slots * (e2e_latency_s - e2e_zero_s) / max(1, units)
