"""The building blocks of the OpenAPI document: schemas of the answers, query parameters and
operations (see :mod:`api.openapi`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from api.runs import MAX_PAGE
from stocksync.runs.schemas import any_case_words

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "examples": ["invalid_request"]},
                "message": {"type": "string", "description": "what is wrong, for a person"},
                "field": {"type": ["string", "null"], "description": "the offending field"},
            },
        }
    },
}


def obj(required: list[str] | None = None, **properties: Any) -> dict[str, Any]:
    """A JSON object schema with these properties (``required`` of them always present); other
    properties may follow (responses grow fields without breaking clients)."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


INT = {"type": "integer"}
STR = {"type": "string"}
NULLABLE_STR = {"type": ["string", "null"]}
NULLABLE_NUM = {"type": ["number", "null"]}
LIST = {"type": "array", "items": {"type": "object"}}
OBJ = {"type": "object"}
RUN_STATUS = {"type": "string", "description": "pending, planning, running, paused, success, "
              "success_with_errors, failed, cancelled or skipped"}  # fmt: skip
RUN_VIEW = obj(
    ["id", "status", "total", "done", "success", "failed", "skipped", "pending", "percent"],
    id=INT, kind=STR, status=RUN_STATUS, total=INT, done=INT, success=INT, failed=INT,
    skipped=INT, pending=INT, percent={"type": "number"}, current_date=NULLABLE_STR,
    eta_s=NULLABLE_NUM, rows_written=INT, message=NULLABLE_STR, error=NULLABLE_STR,
    trigger=NULLABLE_STR, created_at=NULLABLE_STR, started_at=NULLABLE_STR,
    finished_at=NULLABLE_STR, duration_s=NULLABLE_NUM,
    store={"type": "string", "enum": ["main", "sim"],
           "description": "the store the run is in: main (real sources) or sim (simulated)"},
)  # fmt: skip
PAGED = obj(["items", "page", "per_page", "total"], items=LIST, page=INT, per_page=INT, total=INT)
REQUEUED = obj(["run_id", "requeued"], run_id=INT, requeued=INT, reset_failed=INT, run=RUN_VIEW)
HEALTH = obj(
    ["status", "checks"],
    status={"type": "string", "enum": ["ok", "degraded"]},
    checks={"type": "object", "additionalProperties": {"type": "string"}},
)
SCHEDULE = obj(["name", "cron", "enabled"], name=STR, cron=STR, enabled={"type": "boolean"})
FIRED = obj(["outcome", "message"], outcome=STR, run_id={"type": ["integer", "null"]}, message=STR)


@dataclass(frozen=True)
class Param:
    """A query parameter: its schema as the server reads it, and whether it must be sent."""

    name: str
    schema: dict[str, Any]
    text: str
    required: bool = False


def paging(most: int) -> list[Param]:
    return [
        Param("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
              "page number"),
        Param("per_page", {"type": "integer", "minimum": 1, "maximum": most},
              f"items per page (at most {most})"),
    ]  # fmt: skip


# An empty value is read as "not given" (the default).
ITEM_STATUS = {
    "type": "string",
    "enum": ["", "pending", "running", "success", "failed", "skipped"],
}
CHOICE = {"period": ["daily", "weekly", "monthly"], "adjust": ["none", "qfq", "hfq"]}


def any_case_choice(words: list[str]) -> dict[str, Any]:
    """One of ``words`` in any letter case, or empty (the default)."""
    return {"type": "string", "pattern": f"^(?:{any_case_words(tuple(words))})?$",
            "examples": words}  # fmt: skip


@dataclass(frozen=True)
class Operation:
    summary: str
    body: dict[str, Any] | None = None
    query: list[Param] = field(default_factory=list)
    ok: int = 200
    errors: tuple[int, ...] = ()
    media: str = "application/json"
    response: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    # other answers that are no error (a status → its schema), and errors whose body is not the
    # usual error shape
    also: dict[int, dict[str, Any]] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
