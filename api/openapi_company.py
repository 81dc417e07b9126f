"""The OpenAPI operations of :mod:`api.company`: a stock's corporate actions, profile on a date,
financial reports as of a date, and the factor/action cross-check."""

from __future__ import annotations

from api.openapi_schema import INT, LIST, OBJ, STR, Operation, Param, obj
from stocksync.runs.schemas import CODE as ONE_CODE
from stocksync.runs.schemas import CODE_PATTERN, DATE

CODE = {"type": "string", "pattern": CODE_PATTERN}
CODES = {"type": "string", "maxLength": 2400,
         "pattern": rf"^[\s,]*{ONE_CODE}(?:[\s,]+{ONE_CODE}){{0,199}}[\s,]*$",
         "description": "stock codes separated by commas or spaces (at most 200)"}  # fmt: skip

COMPANY_OPERATIONS: dict[str, Operation] = {
    "company.corporate_actions": Operation(
        "Stored corporate actions of one stock (amounts per share, in yuan)",
        query=[
            Param("code", CODE, "stock code, e.g. 600000 or 600000.SH", required=True),
            Param("start", DATE, "first ex-date", required=True),
            Param("end", DATE, "last ex-date (not before start)", required=True),
        ],
        errors=(400,),
        response=obj(
            ["code", "start", "end", "actions"], code=STR, start=STR, end=STR, actions=LIST
        ),
    ),
    "company.profile": Operation(
        "What a stock was on a date: name, ST, industry, area, shares, listing",
        query=[
            Param("code", CODE, "stock code", required=True),
            Param("date", DATE, "the date", required=True),
        ],
        errors=(400, 404),
        response=obj(["code", "date"], code=STR, date=STR, sources=OBJ),
    ),
    "company.financials": Operation(
        "Quarterly report figures as they were known on a date (point in time)",
        query=[
            Param("codes", CODES, "stock codes", required=True),
            Param("as_of", DATE, "the date the figures were known by (default today)"),
            Param(
                "periods",
                {"type": "integer", "minimum": 1, "maximum": 200},
                "latest report periods per stock (default 8)",
            ),
        ],
        errors=(400,),
        response=obj(["as_of", "reports"], as_of=STR, reports=LIST),
    ),
    "company.check_factors": Operation(
        "Factors against corporate actions: steps without an action, actions without a step, "
        "steps of the wrong size; and factor values later fetches revised",
        query=[
            Param("start", DATE, "first date", required=True),
            Param("end", DATE, "last date (at most five years after start)", required=True),
            Param("codes", CODES, "only these stocks"),
        ],
        errors=(400,),
        response=obj(
            ["start", "end", "compared", "findings", "revisions"],
            start=STR,
            end=STR,
            compared=obj(factor_steps=INT, actions=INT, matched=INT),
            findings=LIST,
            revisions=LIST,
        ),
    ),
    "company.check_minute_bars": Operation(
        "Stored minute bars against the stored daily bars: each (stock, day) whose first open, "
        "last close, high, low, volume or amount differ",
        query=[
            Param("start", DATE, "first date", required=True),
            Param("end", DATE, "last date (at most a year after start)", required=True),
            Param(
                "period",
                {"type": "string", "enum": ["", "5min", "15min", "30min", "60min"]},
                "minute period (default 5min)",
            ),
            Param("codes", CODES, "only these stocks"),
        ],
        errors=(400,),
        response=obj(
            ["start", "end", "period", "compared_days", "findings"],
            start=STR,
            end=STR,
            period=STR,
            compared_days=INT,
            findings=LIST,
        ),
    ),
}
