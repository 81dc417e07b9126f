"""JSON Schemas of the request bodies, and validation against them with messages a user
understands.

The same dicts validate requests (here) and describe them in the API's OpenAPI document, so the
document cannot drift from what the API accepts. Checks a schema cannot express (a date that
does not exist, start after end, the range cap) follow in the parsers that use these schemas.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from stocksync.datasets import FACT_DATASETS
from stocksync.domain import DatasetName
from stocksync.errors import InvalidRequest

DATE = {
    "type": "string",
    "format": "date",
    "pattern": r"^\d{4}-?\d{2}-?\d{2}$",
    "description": "a date, YYYY-MM-DD (YYYYMMDD also accepted)",
    "examples": ["2026-10-09"],
}
STRING_LIST = {
    "oneOf": [
        {"type": "array", "items": {"type": "string", "minLength": 1}},
        {"type": "string", "description": "comma separated"},
    ],
    "description": "a list of strings (or one comma-separated string)",
}
PERIODS = ("daily", "weekly", "monthly")
KINDS = ("range", "all_history", "incremental")
DATASETS = (*(name.value for name in FACT_DATASETS), DatasetName.SECURITIES.value)
MAX_DAYS_BACK = 3650


def _any_case(word: str) -> str:
    """A regular expression matching ``word`` in any letter case (JSON Schema patterns have no
    case-insensitive flag)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


def any_case_words(words: tuple[str, ...]) -> str:
    return "(?:" + "|".join(_any_case(w) for w in words) + ")"


# A stock code in a form stocksync reads (600000, 600000.SH, sh.600000, SH600000; any case):
# the six digits' first one names the exchange (6 Shanghai; 0, 3 Shenzhen; 4, 8, 9 Beijing).
CODE = (
    r"(?:[034689][0-9]{5}"
    r"|6[0-9]{5}\.[Ss][Hh]|[03][0-9]{5}\.[Ss][Zz]|[489][0-9]{5}\.[Bb][Jj]"
    r"|[Ss][Hh]\.?6[0-9]{5}|[Ss][Zz]\.?[03][0-9]{5}|[Bb][Jj]\.?[489][0-9]{5})"
)
CODE_PATTERN = rf"^\s*{CODE}\s*$"


def _list_of(item: str, what: str, *, padded: bool = False) -> dict[str, Any]:
    """The values a string list may hold (``item``, a pattern without anchors): a list of them
    (each with spaces around when ``padded``), or one string of them separated by commas or
    spaces; an empty string or list is the default."""
    pad = r"\s*" if padded else ""
    separated = rf"^[ ,]*(?:{item}(?:[ ,]+{item})*)?[ ,]*$"
    return {
        "oneOf": [
            {"type": "array", "items": {"type": "string", "pattern": f"^{pad}{item}{pad}$"}},
            {"type": "string", "pattern": separated},
        ],
        "description": what,
    }


_NON_EMPTY = {"anyOf": [{"type": "string", "minLength": 1}, {"type": "array", "minItems": 1}]}

# The rules of a run request that its parser states in its own words (and so that are left out
# when a body is validated against the schema): which fields each kind takes, and the values a
# list may hold. The document carries them, so it accepts exactly what the parser accepts.
# What no schema can state is checked after them: dates that exist, start before end, the range
# cap, end not in the future, codes and sources this installation knows.
RUN_RULES: list[dict[str, Any]] = [
    {
        "if": {"required": ["kind"], "properties": {"kind": {"const": "incremental"}}},
        "then": {"not": {"required": ["start_date"]}},
        "else": {"not": {"required": ["days_back"]}},
    },
    {
        "if": {
            "anyOf": [
                {"not": {"required": ["kind"]}},
                {"required": ["kind"], "properties": {"kind": {"const": "range"}}},
            ]
        },
        "then": {"required": ["start_date", "end_date"]},
    },
    {  # sources go by one name only (an empty string or list counts as not given)
        "not": {
            "anyOf": [
                {"required": [a, b], "properties": {a: _NON_EMPTY, b: _NON_EMPTY}}
                for a, b in (
                    ("sources", "preferred_sources"),
                    ("sources", "data_sources"),
                    ("preferred_sources", "data_sources"),
                )
            ]
        }
    },
    {
        "properties": {
            "symbols": _list_of(CODE, "stock codes", padded=True),
            "periods": _list_of(any_case_words(PERIODS), "bar periods"),
            "datasets": _list_of(any_case_words(DATASETS), "datasets"),
        }
    },
]

RUN_REQUEST: dict[str, Any] = {
    "title": "RunRequest",
    "type": "object",
    "additionalProperties": False,
    "description": (
        "What to sync. kind 'range' (the default) needs start_date and end_date and covers at "
        "most STOCKSYNC_MAX_RANGE_DAYS (90) days; 'all_history' syncs everything since each "
        "stock listed (start_date/end_date optional); 'incremental' syncs the last days_back "
        "days, or without days_back everything after the last stored bar."
    ),
    "properties": {
        "kind": {"type": "string", "enum": list(KINDS), "default": "range"},
        "start_date": DATE,
        "end_date": DATE,
        "days_back": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_DAYS_BACK,
            "description": "incremental only: sync the last N calendar days up to end_date",
        },
        "symbols": {
            **STRING_LIST,
            "description": "stock codes (600000, 600000.SH, sh.600000); omitted: the whole market",
        },
        "periods": {
            **STRING_LIST,
            "description": "daily, weekly and/or monthly (default daily)",
            "examples": [["daily", "weekly"]],
        },
        "datasets": {
            **STRING_LIST,
            "description": (
                "bars, adj_factors, valuations and/or securities (default: bars, adj_factors "
                "and valuations; securities refreshes the stock list first)"
            ),
        },
        "sources": {
            **STRING_LIST,
            "description": "sources in priority order (default: the configured order)",
        },
        "preferred_sources": {**STRING_LIST, "description": "the seeds' name for sources"},
        "data_sources": {**STRING_LIST, "description": "the seeds' other name for sources"},
        "force": {
            "type": "boolean",
            "default": False,
            "description": "redo units an earlier run already synced",
        },
    },
    "allOf": RUN_RULES,
}

_KIND_WORDS = {
    "string": "a string",
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
    "object": "a JSON object",
    "array": "a list",
}


def _structural(schema: Any) -> Any:
    """``schema`` without its ``allOf`` rules (which the parsers check in their own words)."""
    if isinstance(schema, Mapping):
        return {k: _structural(v) for k, v in schema.items() if k != "allOf"}
    if isinstance(schema, list):
        return [_structural(v) for v in schema]
    return schema


def validate(body: object, schema: Mapping[str, Any], *, what: str = "the request body") -> None:
    """Raise :class:`InvalidRequest` for the most relevant way ``body`` breaks ``schema``'s
    structure (its ``allOf`` rules are the parser's to check, with clearer messages)."""
    if schema.get("type") == "object" and not isinstance(body, Mapping):
        raise InvalidRequest(f"{what} must be a JSON object")
    errors = sorted(
        Draft202012Validator(_structural(schema)).iter_errors(body),
        key=lambda e: (len(e.absolute_path) == 0, list(map(str, e.absolute_path))),
    )
    if errors:
        raise _friendly(errors[0], schema)


def _friendly(error: ValidationError, schema: Mapping[str, Any]) -> InvalidRequest:
    path = [str(p) for p in error.absolute_path]
    field = path[0] if path else None
    where = ".".join(path) or "the body"
    sub = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = (
            sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        )
        return InvalidRequest(
            f"unknown field(s): {', '.join(extra)}; allowed: {', '.join(allowed)}",
            field=extra[0] if extra else None,
        )
    if error.validator == "required":
        return InvalidRequest(error.message, field=field)
    if error.validator == "enum":
        options = ", ".join(str(v) for v in error.validator_value)
        return InvalidRequest(
            f"{where} must be one of {options}, got {error.instance!r}", field=field
        )
    if error.validator in ("minimum", "maximum"):
        prop = schema.get("properties", {}).get(field or "", {})
        low, high = prop.get("minimum"), prop.get("maximum")
        return InvalidRequest(
            f"{where} must be between {low} and {high}, got {error.instance!r}", field=field
        )
    described = sub.get("description")
    if sub.get("format") == "date" and error.validator in ("pattern", "type"):
        return InvalidRequest(
            f"{where} {error.instance!r} is not a valid date; write YYYY-MM-DD, e.g. 2024-01-31",
            field=field,
        )
    if error.validator == "oneOf":
        forms = " or ".join(_form(alt) for alt in error.validator_value)
        return InvalidRequest(f"{where} must be {forms}, got {error.instance!r}", field=field)
    if error.validator == "type":
        expected = _KIND_WORDS.get(str(error.validator_value), str(error.validator_value))
        return InvalidRequest(f"{where} must be {expected}", field=field)
    if described:
        return InvalidRequest(f"{where} must be {described}, got {error.instance!r}", field=field)
    return InvalidRequest(f"{where}: {error.message}", field=field)


def _form(alternative: Mapping[str, Any]) -> str:
    if alternative.get("type") == "array":
        items = alternative.get("items", {}).get("type", "value")
        return f"a list of {items}s"
    words = _KIND_WORDS.get(str(alternative.get("type")), "a value")
    note = alternative.get("description")
    return f"{words} ({note})" if note else words


SCHEDULE_UPDATE: dict[str, Any] = {
    "title": "ScheduleUpdate",
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "description": "Fields of a schedule to change; the others keep their values.",
    "properties": {
        "cron": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": (
                "a cron expression: minute hour day-of-month month day-of-week, in the schedule "
                "timezone (Asia/Shanghai), e.g. '30 17 * * 1-5'; null: back to the default "
                "(STOCKSYNC_SCHEDULE_*)"
            ),
        },
        "enabled": {"type": "boolean"},
        "body": {
            "anyOf": [{"type": "null"}, RUN_REQUEST],
            "description": "the run request the schedule submits (null: its default)",
        },
    },
}
