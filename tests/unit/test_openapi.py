"""The OpenAPI document: valid OpenAPI 3.1, complete (every route of the app), and built from
the very schemas the request parsers validate with — so it accepts what the API accepts."""

from __future__ import annotations

import datetime as dt

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from api import create_app
from api.openapi import OPERATIONS, build_document
from stocksync.errors import InvalidRequest
from stocksync.runs.schemas import RUN_REQUEST, SCHEDULE_UPDATE
from stocksync.runs.spec import parse_run_request


@pytest.fixture(scope="module")
def app():
    return create_app({"CONTEXT_FACTORY": lambda: None, "API_TOKEN": None})


def test_the_document_is_valid_openapi_and_served(app):
    document = build_document(app)
    validate(document)
    served = app.test_client().get("/api/v1/openapi.json")
    assert served.status_code == 200 and served.json["paths"] == document["paths"]


def test_every_route_is_documented_with_its_methods(app):
    paths = build_document(app)["paths"]
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("web."):
            continue
        path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in paths[path], (method, path)
    assert set(OPERATIONS) >= {r.endpoint for r in app.url_map.iter_rules()} - {"static"} - {
        r.endpoint for r in app.url_map.iter_rules() if r.endpoint.startswith("web.")
    }


def test_mutating_operations_declare_the_token_and_its_401(app):
    for path, operations in build_document(app)["paths"].items():
        for method, operation in operations.items():
            if method in ("post", "put", "delete"):
                assert operation["security"] == [{"token": []}], path
                assert "401" in operation["responses"], path


def test_request_bodies_are_the_parsers_own_schemas(app):
    schemas = build_document(app)["components"]["schemas"]
    assert schemas["RunRequest"] is RUN_REQUEST
    assert schemas["ScheduleUpdate"] is SCHEDULE_UPDATE
    body = build_document(app)["paths"]["/api/v1/runs"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RunRequest"
    }


@pytest.mark.parametrize(
    "body",
    [
        {"start_date": "2026-01-05", "end_date": "2026-01-09"},
        {"kind": "incremental", "days_back": 7, "periods": ["daily"], "data_sources": ["sim"]},
        {"kind": "all_history", "symbols": "600000,000001", "datasets": ["bars"]},
        {"start_date": "2026-01-05", "end_date": "2026-01-09", "colour": "red"},
        {"kind": "incremental", "days_back": "7"},
        {"kind": "hourly"},
        {"start_date": 20260105, "end_date": "2026-01-09"},
        {"start_date": "2026-01-05", "end_date": "2026-01-09", "force": "yes"},
        {"start_date": "2026-01-05", "end_date": "2026-01-09", "symbols": [1, 2]},
        ["not", "an", "object"],
    ],
)
def test_the_document_accepts_exactly_what_the_parser_accepts_structurally(app, body):
    schema = build_document(app)["components"]["schemas"]["RunRequest"]
    by_document = Draft202012Validator(schema).is_valid(body)
    try:
        parse_run_request(
            body, known_sources=("sim",), default_sources=("sim",), today=dt.date(2026, 11, 23)
        )
        by_parser = True
    except InvalidRequest:
        by_parser = False
    assert by_document == by_parser
