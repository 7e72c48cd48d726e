"""The OpenAPI document: served without a token, and describing exactly the API routes."""

from __future__ import annotations

import json
import re

from flask import Flask
from flask.testing import FlaskClient

from parrhesia.testing import RegisteredRecipient, SubmittedReport

_IGNORED_METHODS = {"HEAD", "OPTIONS"}
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def _served_operations(app: Flask) -> set[tuple[str, str]]:
    operations = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = _ARGUMENT.sub(r"{\1}", rule.rule)
            operations |= {(path, method.lower()) for method in (rule.methods or set()) - _IGNORED_METHODS}
    return operations


def test_openapi_document_is_public_json_with_the_required_keys(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.is_json
    document = json.loads(response.data)
    assert document["openapi"] == "3.1.0"
    assert {"openapi", "info", "paths", "components"} <= document.keys()
    assert {"title", "version"} <= document["info"].keys()
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "A recipient's API token."
    }
    assert document["security"] == [{"bearerAuth": []}]


def test_openapi_document_lists_exactly_the_api_routes(app: Flask, client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    served = _served_operations(app)
    assert served - documented == set(), "API routes without documentation"
    assert documented - served == set(), "documented routes the app does not serve"


def test_every_operation_documents_its_parameters_and_answers(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    schemas = document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), where
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{([^}]+)}", path)), where
            assert any(code.startswith("2") for code in operation["responses"]), where
            if path != "/api/v1/openapi.json":
                assert "401" in operation["responses"], where
            if method in ("put", "post") and not path.endswith(("/acknowledge", "/resume")):
                assert "requestBody" in operation, where
    for ref in re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)):
        assert ref in schemas, ref


def test_only_the_openapi_document_is_served_without_a_token(app: Flask, client: FlaskClient) -> None:
    public = client.get("/api/v1/openapi.json")
    assert public.status_code == 200
    assert client.get("/api/v1/me").status_code == 401
    document = public.json
    unauthenticated = [
        (path, method) for path, item in document["paths"].items() for method, op in item.items()
        if op.get("security", document["security"]) == []
    ]
    assert unauthenticated == [("/api/v1/openapi.json", "get")]


def test_openapi_document_reveals_nothing_of_the_instance(
    client: FlaskClient, recipient: RegisteredRecipient, submitted_report: SubmittedReport
) -> None:
    text = client.get("/api/v1/openapi.json").get_data(as_text=True)
    assert submitted_report.id not in text
    assert "Integrity Office" not in text and "integrity-office" not in text
    assert "Test instance" not in text


def test_openapi_document_describes_keys_sealed_to_body_keys(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    schemas = document["components"]["schemas"]
    assert "sealed_keys" not in json.dumps(document), "keys are sealed to a body key now, not per recipient"
    assert {"sealed_key", "generation"} <= schemas["Report"]["properties"].keys()
    assert {"sealed_key", "generation"} <= schemas["Part"]["properties"].keys()
    assert {"sealed_key", "generation"} <= set(schemas["NoteRequest"]["required"])
    assert {"sealed_key", "generation"} <= schemas["TransferRequest"]["properties"].keys()
    assert "body_key" in schemas["BodyRecipients"]["properties"]
    assert document["paths"]["/api/v1/keyring"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Keyring"
    }
