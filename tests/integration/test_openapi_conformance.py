"""The OpenAPI document and the server agree: schemathesis generates requests from the live
app's ``/api/v1/openapi.json`` — valid ones and invalid ones — and runs every check it has (no
5xx; status codes, content types, headers and bodies as documented; documented-valid requests
accepted, documented-invalid ones refused; a wrong token refused) on real PostgreSQL and Redis.

What no schema can state is the one allowance: a schema-valid request may still be refused
with a 400 by a rule between its fields or about stored data (start after end, a range over the
cap, a date in the future, a stock nobody stored, a source this installation does not have, a
run whose state does not allow the change).
Such a refusal passes only when its message is one of those rules — any other 400 for a
schema-valid request is a disagreement between the document and the server."""

from __future__ import annotations

import re
import time

import pytest
import schemathesis
from celery import Celery
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from inprocess_runs import PlanHere  # type: ignore[import-not-found]
from schemathesis.checks import CHECKS
from schemathesis.generation.modes import GenerationMode

from api import create_app
from workers.dispatch import CeleryDispatcher

TOKEN = "conformance-token-5f1c"
MAX_EXAMPLES = 12  # per operation and mode: the whole test stays well under a minute
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
RUN_RULES = (
    r"is after end_date",
    r"is in the future",
    r"is before the market opened",
    r"a range run covers at most",
    r"unknown stock code",
    r"unknown source",
    r"cannot mix sim",
    r"lives in its own store",
    r"write to the main store",
)
# a run's state (finished, cancelled, skipped) that does not allow what was asked
RUN_STATE = (r"^run \d+ is \w+; only a", r"^run \d+ was (cancelled|skipped)", r"is already \w+$")
# operation → the messages of the rules beyond its schema
DATA_RULES = {
    "POST /api/v1/runs/{run_id}/resume": RUN_STATE,
    "POST /api/v1/runs/{run_id}/retry-failed": RUN_STATE,
    "POST /api/v1/runs/{run_id}/pause": RUN_STATE,
    "POST /api/v1/runs/{run_id}/cancel": RUN_STATE,
    "POST /api/v1/runs": RUN_RULES,
    "POST /api/v1/runs/preview": RUN_RULES,
    "PUT /api/v1/schedules/{name}": (*RUN_RULES, r"^cron", r"cron expression", r"field"),
    "GET /api/v1/bars": (
        r"^start \S+ is after end",
        r"no bars of \S+ are stored",
        r"more than \d+ bars",
        r"needs adjustment factors",
    ),
    "GET /api/v1/index-bars": (
        r"^start \S+ is after end",
        r"no bars of \S+ are stored",
        r"more than \d+ bars",
    ),
    "GET /api/v1/stats/coverage": (r"^start \S+ is after end", r"ask for at most \d+ days"),
    "GET /api/v1/universe": (r"no stock list is stored yet", r"no members of \S+ are stored"),
    "GET /api/v1/calendar": (
        r"^start \S+ is after end",
        r"ask for at most \d+ days",
        r"the stored calendar knows \d+ of",
    ),
    "GET /api/v1/corporate-actions": (r"^start \S+ is after end", r"ask for at most \d+ days"),
    "GET /api/v1/checks/factors": (r"^start \S+ is after end", r"ask for at most \d+ days"),
    "GET /api/v1/checks/minute-bars": (r"^start \S+ is after end", r"ask for at most \d+ days"),
}


def refused_by_a_data_rule(label: str, response) -> bool:
    if response.status_code != 400 or label not in DATA_RULES:
        return False
    message = response.json()["error"]["message"]
    return any(re.search(rule, message) for rule in DATA_RULES[label])


def disagreement(operation, mode: GenerationMode, auth: dict[str, str]) -> str | None:
    """What schemathesis found wrong with ``operation`` in ``mode`` (None: nothing)."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.generate),  # no shrinking: report, don't search
        suppress_health_check=list(HealthCheck),
    )
    def conforms(case):
        response = case.call(headers=auth)
        if mode is GenerationMode.POSITIVE and refused_by_a_data_rule(operation.label, response):
            return
        case.validate_response(response, headers=auth)

    try:
        conforms()
    except Unsatisfiable:
        return None  # nothing to negate: an operation without parameters or body
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis's FailureGroup too
        return str(exc)
    return None


def test_the_server_does_exactly_what_its_openapi_document_says(ctx, settings):
    broker = Celery("openapi-conformance", broker=settings.redis_url)
    broker.conf.task_default_queue = "stocksync"
    app = create_app(
        {
            "CONTEXT_FACTORY": lambda: ctx,
            "DISPATCHER_FACTORY": lambda: PlanHere(ctx, CeleryDispatcher(broker)),
            "API_TOKEN": TOKEN,
        }
    )
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    schema.config.checks.update(included_check_names=list(CHECKS.get_all_names()))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    began = time.monotonic()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        for mode in MODES:
            failure = disagreement(operation, mode, auth)
            if failure:
                failures.append(f"{operation.label} [{mode.value}]: {failure}")
    took = time.monotonic() - began
    assert not failures, f"{len(failures)} failure(s):\n" + "\n\n".join(failures)
    assert took < 60, f"conformance took {took:.0f} s"


@pytest.fixture(autouse=True)
def _quiet_werkzeug(caplog):
    caplog.set_level("WARNING")
