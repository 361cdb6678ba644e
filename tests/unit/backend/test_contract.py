"""The HTTP contract: error shape, request guard, new routes and the served OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.types import Message

from api_gateway.batches import DeadLetterResult
from api_gateway.main import create_app as create_gateway
from api_gateway.routes import DEAD_LETTER_PUSH_PATH, IngestResponse
from api_gateway.settings import GatewaySettings
from clarity_common.contract import install_api_contract
from clarity_common.guard import DEFAULT_MAX_BODY_BYTES, MAX_BODY_BYTES_EXTENSION, RequestGuard
from clarity_common.openapi import COMPONENTS
from clarity_common.payloads import (
    json_body,
    parse_json,
)
from clarity_common.problems import ErrorBody, error_detail
from clarity_common.pubsub import MAX_PUSH_BODY_BYTES, PushEnvelope
from clarity_common.samples import MAX_BODY_BYTES, HealthSample, SampleBatch
from clarity_common.settings import ServiceSettings
from ml_service.analysis import AnalysisRequest, Summary
from ml_service.main import INGESTION_PUSH_PATH, PUSH_PATH
from ml_service.main import create_app as create_ml_service
from ml_service.processing import PushResult

pytestmark = pytest.mark.unit

JSON = {"content-type": "application/json"}


# ---------------------------------------------------------------------- the served document
def _document(app: FastAPI) -> dict[str, Any]:
    with TestClient(app) as client:
        document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def _component(model: type[BaseModel]) -> dict[str, Any]:
    """The model's own schema as the document must hold it, and its nested definitions."""
    schema = model.model_json_schema(ref_template=COMPONENTS + "{model}")
    schema.pop("$defs", None)
    return schema


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


_Bodies = dict[tuple[str, str], tuple[type[BaseModel], int, type[BaseModel]]]
SERVED: dict[str, tuple[Callable[[], FastAPI], _Bodies]] = {
    "api-gateway": (
        lambda: create_gateway(GatewaySettings()),
        {
            ("post", "/v1/healthkit/samples"): (SampleBatch, MAX_BODY_BYTES, IngestResponse),
            ("post", DEAD_LETTER_PUSH_PATH): (PushEnvelope, MAX_PUSH_BODY_BYTES, DeadLetterResult),
        },
    ),
    "ml-service": (
        lambda: create_ml_service(ServiceSettings()),
        {
            ("post", "/v1/analyze"): (AnalysisRequest, MAX_BODY_BYTES, Summary),
            ("post", PUSH_PATH): (PushEnvelope, MAX_PUSH_BODY_BYTES, PushResult),
            ("post", INGESTION_PUSH_PATH): (PushEnvelope, MAX_PUSH_BODY_BYTES, PushResult),
        },
    ),
}


@pytest.mark.parametrize("service", sorted(SERVED))
def test_the_served_schema_describes_the_models(service: str) -> None:
    build, bodies = SERVED[service]
    document = _document(build())
    schemas = document["components"]["schemas"]
    for (method, path), (model, limit, answer) in bodies.items():
        operation = document["paths"][path][method]
        body = operation["requestBody"]
        assert body["required"] is True
        assert body["content"] == {
            "application/json": {"schema": {"$ref": f"{COMPONENTS}{model.__name__}"}}
        }
        assert operation[MAX_BODY_BYTES_EXTENSION] == limit
        assert schemas[model.__name__] == _component(model)
        for name in model.model_json_schema().get("$defs", {}):
            assert name in schemas
        success = next(code for code in operation["responses"] if code.startswith("2"))
        assert operation["responses"][success]["content"]["application/json"]["schema"] == {
            "$ref": f"{COMPONENTS}{answer.__name__}"
        }
    assert schemas[ErrorBody.__name__] == _component(ErrorBody)
    assert "HTTPValidationError" not in schemas
    for ref in _refs(document):
        assert ref.removeprefix(COMPONENTS) in schemas, f"{ref} does not resolve"


def _keys(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _keys(item)


@pytest.mark.parametrize("service", sorted(SERVED))
def test_bounds_are_written_as_json_schema_says(service: str) -> None:
    """pydantic writes a bound it cannot place as "ge"; JSON Schema (and clients) ignore that."""
    build, _ = SERVED[service]
    assert not {"ge", "gt", "le", "lt"} & set(_keys(_document(build())["components"]))


@pytest.mark.parametrize("service", sorted(SERVED))
def test_every_route_documents_its_errors(service: str) -> None:
    build, _ = SERVED[service]
    document = _document(build())
    error = {"application/json": {"schema": {"$ref": f"{COMPONENTS}ErrorBody"}}}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "500" in responses, (method, path)
            if method == "post":
                assert {"413", "415", "422"} <= set(responses), (method, path)
            for status, response in responses.items():
                if status[0] in "45" and path != "/health":
                    assert response["content"] == error or path.startswith(("/health/", "/ml/"))
                assert response["description"], (method, path, status)


def test_the_health_answers_are_documented_with_their_error() -> None:
    document = _document(create_gateway(GatewaySettings()))
    health = document["paths"]["/health"]["get"]["responses"]
    assert set(health) == {"200", "500"}
    report = document["components"]["schemas"]["HealthReport"]
    assert set(report["properties"]) == {"status", "service", "version", "revision", "error"}


def test_each_sample_type_documents_its_unit_and_range() -> None:
    branches = HealthSample.model_json_schema()["oneOf"]
    documented = {
        branch["properties"]["sample_type"]["const"]: (
            branch["properties"]["unit"]["const"],
            branch["properties"]["value"]["minimum"],
            branch["properties"]["value"]["maximum"],
        )
        for branch in branches
    }
    assert documented["heart_rate"] == ("count/min", 20, 300)
    assert len(documented) == len(branches) == 8
    batch = SampleBatch.model_json_schema()
    assert batch["properties"]["batch_id"]["not"] == {"pattern": "^__.*__$"}


# ---------------------------------------------------------------------- new routes, for free
class Item(BaseModel):
    name: str
    count: int


def _new_app() -> FastAPI:
    """An app with routes of the kinds a later change adds, on a router of its own."""
    app = FastAPI()
    install_api_contract(app)
    router = APIRouter()

    @router.post("/items")
    async def create_item(item: Item) -> Item:
        return item

    @router.get("/items/{item_id}")
    async def read_item(item_id: int) -> Item:
        return Item(name=str(item_id), count=item_id)

    @router.post("/embedded")
    async def embedded(request: Request) -> dict[str, object]:
        # A route that decodes JSON carried inside its body, like the push endpoint does.
        document = await json_body(request)
        inner = document.get("inner", "") if isinstance(document, dict) else ""
        return {"inner": parse_json(str(inner).encode())}

    @router.get("/broken")
    async def broken() -> None:
        msg = "a bug"
        raise RuntimeError(msg)

    app.include_router(router)
    return app


@pytest.fixture
def new_app() -> Iterator[TestClient]:
    with TestClient(_new_app(), raise_server_exceptions=False) as client:
        yield client


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == status
    error: dict[str, Any] = body["error"]
    return error


def test_new_routes_get_the_guard_and_the_error_shape(new_app: TestClient) -> None:
    ok = new_app.post("/items", json={"name": "a", "count": 1})
    assert ok.status_code == 200
    _error(
        new_app.post("/items", content=b'{"name": "a"}', headers={"content-type": "text/plain"}),
        415,
    )
    _error(new_app.post("/items", content=b'{"name": "a", "count": NaN}', headers=JSON), 422)
    oversize = b'{"name": "' + b"a" * DEFAULT_MAX_BODY_BYTES + b'", "count": 1}'
    _error(new_app.post("/items", content=oversize, headers=JSON), 413)
    invalid = _error(new_app.post("/items", json={"name": "a", "count": "many"}), 422)
    assert [field["loc"] for field in invalid["fields"]] == [["body", "count"]]
    assert "many" not in json.dumps(invalid)  # the input is never echoed
    path = _error(new_app.get("/items/seven"), 422)
    assert path["fields"][0]["loc"] == ["path", "item_id"]
    internal = _error(new_app.get("/broken"), 500)
    assert internal["message"] == "internal error: it was logged; retrying may not help"
    assert "a bug" not in json.dumps(internal)
    _error(new_app.get("/nowhere"), 404)
    _error(new_app.delete("/items"), 405)


def test_json_decoded_inside_a_route_fails_in_the_same_shape(new_app: TestClient) -> None:
    assert new_app.post("/embedded", json={"inner": "[1]"}).json() == {"inner": [1]}
    error = _error(new_app.post("/embedded", json={"inner": "[1,"}), 422)
    assert error["fields"] == [
        {"loc": ["body", 3], "type": "json_invalid", "msg": "JSON decode error: Expecting value"}
    ]
    error = _error(new_app.post("/embedded", json={"inner": "NaN"}), 422)
    assert error["fields"][0]["loc"] == ["body"]


def test_the_body_is_replayed_once_then_the_server_is_listened_to() -> None:
    received: list[Message] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        received.extend([await receive(), await receive()])

    guard = RequestGuard(app, routes=_new_app().router.routes)
    messages: list[Message] = [
        {"type": "http.request", "body": b'{"name": "a",', "more_body": True},
        {"type": "http.request", "body": b' "count": 1}', "more_body": False},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        raise AssertionError(message)

    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/items",
        "headers": [(b"content-type", b"application/json")],
        "query_string": b"",
    }
    anyio.run(guard, scope, receive, send)
    assert received == [
        {"type": "http.request", "body": b'{"name": "a", "count": 1}', "more_body": False},
        {"type": "http.disconnect"},
    ]
    assert scope["state"] == {"clarity.json_body": {"name": "a", "count": 1}}


def test_framework_json_errors_keep_their_reason() -> None:
    error = {
        "loc": ("body", 7),
        "type": "json_invalid",
        "msg": "JSON decode error",
        "ctx": {"error": "Expecting ','"},
    }
    (field,) = error_detail(422, "bad", fields=[error]).fields
    assert field.msg == "JSON decode error: Expecting ','"


def test_new_routes_are_documented_like_the_others() -> None:
    document = _document(_new_app())
    post = document["paths"]["/items"]["post"]["responses"]
    assert {"200", "413", "415", "422", "500"} <= set(post)
    get = document["paths"]["/items/{item_id}"]["get"]["responses"]
    assert {"200", "422", "500"} <= set(get)
    assert get["422"]["content"]["application/json"]["schema"] == {"$ref": f"{COMPONENTS}ErrorBody"}
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_a_client_that_leaves_mid_body_gets_nothing() -> None:
    called: list[str] = []
    sent: list[Message] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append("app")

    route_app = _new_app()
    guard = RequestGuard(app, routes=route_app.router.routes)
    messages: list[Message] = [
        {"type": "http.request", "body": b'{"na', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/items",
        "headers": [(b"content-type", b"application/json")],
        "query_string": b"",
    }
    anyio.run(guard, scope, receive, send)
    assert called == []
    assert sent == []
