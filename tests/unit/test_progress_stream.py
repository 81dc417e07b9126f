"""The live-progress watcher on a fake clock: the first view at once, an event only on change,
keepalives while idle, an end at a final status, and a bounded lifetime."""

from __future__ import annotations

import pytest

from stocksync.runs.events import is_final, watch_run


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def view(done: int, status: str = "running", total: int = 4, eta: float | None = 9.0) -> dict:
    return {"id": 1, "status": status, "total": total, "done": done, "eta_s": eta}


def script(*views: dict):
    """A fetch that returns the views in order, then repeats the last one."""
    seq = list(views)

    def fetch() -> dict:
        return seq.pop(0) if len(seq) > 1 else seq[0]

    return fetch


def run(fetch, clock: FakeClock, **kwargs) -> list[tuple[str, int | None, float]]:
    """(kind, done, time since start) of every event."""
    start = clock.now
    events = watch_run(fetch, sleep=clock.sleep, clock=clock, **kwargs)
    return [(e.kind, e.view["done"] if e.view else None, clock.now - start) for e in events]


def test_the_first_view_comes_at_once_then_only_changes_then_end():
    clock = FakeClock()
    fetch = script(
        view(0), view(0), view(1), view(1), view(1, eta=3.0), view(3), view(4, "success")
    )
    events = run(fetch, clock, interval_s=0.5, keepalive_s=15)
    assert events == [
        ("progress", 0, 0.0),
        ("progress", 1, 1.0),  # 0 → 1 after two polls
        ("progress", 3, 2.5),  # an ETA that moved alone is not an event
        ("progress", 4, 3.0),  # the final view is a progress event too …
        ("end", 4, 3.0),  # … and then the end, with the same view
    ]
    assert set(clock.sleeps) == {0.5}


def test_a_run_already_finished_gives_one_view_and_the_end_without_waiting():
    clock = FakeClock()
    events = run(script(view(4, "success_with_errors")), clock)
    assert [kind for kind, _, _ in events] == ["progress", "end"]
    assert clock.sleeps == []


def test_keepalives_while_nothing_changes_and_none_while_it_does():
    clock = FakeClock()
    idle = [view(2)] * 80  # 40 s without change at 0.5 s
    events = run(script(view(2), *idle, view(4, "success")), clock, keepalive_s=15)
    kinds = [(kind, at) for kind, _, at in events]
    assert kinds == [
        ("progress", 0.0), ("keepalive", 15.0), ("keepalive", 30.0),
        ("progress", 40.5), ("end", 40.5),
    ]  # fmt: skip

    busy = FakeClock()
    changing = [view(n % 4, total=100) for n in range(1, 80)]
    events = run(script(view(0, total=100), *changing, view(100, "success", total=100)), busy)
    assert "keepalive" not in [kind for kind, _, _ in events]


def test_a_paused_run_keeps_the_stream_open_and_cancelled_ends_it():
    clock = FakeClock()
    events = run(script(view(1), view(1, "paused"), view(1, "paused"), view(1, "cancelled")), clock)
    assert [kind for kind, _, _ in events] == ["progress", "progress", "progress", "end"]


def test_the_stream_stops_without_end_after_its_maximum_duration():
    clock = FakeClock()
    events = run(script(view(0)), clock, max_duration_s=10, keepalive_s=4)
    assert [kind for kind, _, _ in events] == ["progress", "keepalive", "keepalive"]
    assert events[-1][2] <= 10


def test_a_failing_fetch_propagates_and_the_first_fetch_waits_for_next():
    calls = []

    def missing() -> dict:
        calls.append(1)
        raise LookupError("run 9 does not exist")

    events = watch_run(missing)
    assert calls == []  # nothing fetched until the caller asks
    with pytest.raises(LookupError):
        next(events)


@pytest.mark.parametrize(
    ("status", "final"),
    [("pending", False), ("running", False), ("paused", False), ("success", True),
     ("success_with_errors", True), ("failed", True), ("cancelled", True)],
)  # fmt: skip
def test_final_statuses(status, final):
    assert is_final({"status": status}) is final
