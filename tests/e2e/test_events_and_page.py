"""Live progress as a user sees it: the event stream of a real run (HTTP API → Redis → celery
workers → PostgreSQL) read over HTTP, and the web page rendered by a real headless browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import requests
from e2e_support import wait_for  # type: ignore[import-not-found]

pytestmark = pytest.mark.e2e

CHROMIUM = next(
    (path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium binary: the web page is not rendered "
    "(apt-get install -y --no-install-recommends chromium; .ci/run does this)",
)


def read_stream(url: str) -> list[dict]:
    """Every SSE event of ``url`` until the server closes the stream."""
    events: list[dict] = []
    fields: dict = {}
    with requests.get(url, stream=True, timeout=(5, 60)) as response:
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Cache-Control"] == "no-cache"
        for line in response.iter_lines(decode_unicode=True):
            if line == "":
                if fields:
                    events.append(fields)
                fields = {}
                continue
            name, _, value = line.partition(":")
            fields[name or "comment"] = value.strip()
    return events


def start_run(api_url: str, body: dict) -> int:
    response = requests.post(f"{api_url}/api/v1/runs", json=body, timeout=60)
    assert response.status_code == 202, response.text
    return int(response.json()["run_id"])


def wait_status(api_url: str, run_id: int, status: str) -> None:
    def reached() -> bool:
        return requests.get(f"{api_url}/api/v1/runs/{run_id}", timeout=5).json()["status"] == status

    wait_for(reached, timeout=120)


def render_page(url: str) -> str:
    """The page's DOM after its scripts ran, as headless Chromium serialises it. Only for a
    finished run: virtual time does not advance while an event stream is open."""
    assert CHROMIUM is not None
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--virtual-time-budget=8000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def field(dom: str, name: str) -> str:
    match = re.search(rf'data-field="{name}"[^>]*>([^<]*)<', dom)
    assert match, f"no {name} in the page"
    return match.group(1).strip()


def test_the_event_stream_follows_a_run_to_its_end(ctx, workers, api_url):
    workers.start("w1", STOCKSYNC_SIM_LATENCY_MS="300")
    run_id = start_run(api_url, {"start_date": "2025-03-03", "end_date": "2025-03-14"})
    events = read_stream(f"{api_url}/api/v1/runs/{run_id}/events")

    named = [e for e in events if "event" in e]
    assert [e["event"] for e in named[:-1]] == ["progress"] * (len(named) - 1)
    assert named[-1]["event"] == "end"
    ids = [int(e["id"]) for e in named]
    assert ids == list(range(1, len(named) + 1))
    views = [json.loads(e["data"]) for e in named]
    progress = views[:-1]
    assert len(progress) >= 4, [v["done"] for v in progress]  # it was followed, not just read
    done = [v["done"] for v in progress]
    assert done == sorted(done) and done[0] < 10
    final = views[-1]
    assert (final["status"], final["done"], final["total"], final["percent"]) == (
        "success", 10, 10, 100.0,
    )  # fmt: skip
    assert final == requests.get(f"{api_url}/api/v1/runs/{run_id}", timeout=5).json() | {
        "eta_s": final["eta_s"]
    }

    missing = requests.get(f"{api_url}/api/v1/runs/999/events", timeout=5)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@needs_chromium
def test_the_web_page_renders_runs_progress_and_failed_units(ctx, workers, api_url):
    worker = workers.start("w1")
    ok = start_run(api_url, {"start_date": "2025-03-03", "end_date": "2025-03-07"})
    wait_status(api_url, ok, "success")
    workers.kill(worker)
    # Every call fails: one unit fails after its attempts (too few failures to trip the breaker).
    workers.start("w2", STOCKSYNC_SIM_ERROR_RATE="1.0")
    bad = start_run(api_url, {"start_date": "2025-03-10", "end_date": "2025-03-10"})
    wait_status(api_url, bad, "failed")

    page = render_page(f"{api_url}/runs/{ok}")
    assert 'data-run-status="success"' in page
    assert (field(page, "done"), field(page, "total")) == ("5", "5")
    assert (field(page, "status"), field(page, "percent")) == ("success", "100%")
    assert field(page, "failed") == "0" and field(page, "pending") == "0"
    assert int(field(page, "rows_written").replace(",", "")) > 0
    assert field(page, "range") == "2025-03-03 → 2025-03-07"
    assert re.search(r'id="live"[^>]*>finished<', page)

    page = render_page(f"{api_url}/runs/{bad}")
    assert 'data-run-status="failed"' in page
    assert (field(page, "failed"), field(page, "total")) == ("1", "1")
    failed_table = page[page.find('id="failed-items"') :]
    rows = re.findall(r"<tr>(.*?)</tr>", failed_table[: failed_table.find("</tbody>")])
    assert len(rows) == 1, failed_table[:1500]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", rows[0])
    assert "2025-03-10" in cells[0] and cells[1] == "daily" and cells[3] == "4"  # attempts
    assert "failed after 4 attempts" in cells[5] and "simulated failure" in cells[5]

    listing = render_page(f"{api_url}/")
    assert f'href="/runs/{ok}"' in listing and f'href="/runs/{bad}"' in listing
    assert "page 1 of 1 · 2 runs" in listing
