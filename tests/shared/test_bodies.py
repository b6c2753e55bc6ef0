"""Issue 16, findings 2, 5 and 12: bodies that cannot be read get one documented answer everywhere, and the
error handler keeps the headers an answer needs (Allow on 405, WWW-Authenticate on 401)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from shared.app import BodySizeLimit, metric_method
from shared.bodies import MAX_DEPTH, parse_json
from shared.errors import InvalidInput, Unauthorized, install_error_handlers


class Thing(BaseModel):
    name: str


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=200_000)

    @app.post("/things")
    async def create(body: Thing) -> dict:
        return {"ok": True}

    @app.delete("/things")
    async def forget() -> dict:
        return {"ok": True}

    @app.get("/secret")
    async def secret() -> dict:
        raise Unauthorized("Send 'Authorization: Bearer <api key>'", code="api_key_missing")

    return app


async def send(method: str, path: str, **kwargs) -> httpx.Response:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path, **kwargs)


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(("body", "code"), [
    (b'{"name": "\xff"}', "body_not_utf8"),
    (b"[" * 100_000, "json_too_deep"),
    (b'{"name": ' + b"9" * 5000 + b"}", "json_number_too_long"),
    (b'{"name": "trunc', "json_invalid"),
])
async def test_an_unreadable_body_is_422_with_a_stable_code_and_field_body(body, code):
    response = await send("POST", "/things", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["field"]) == (code, "body")


async def test_a_chunked_body_over_the_limit_is_413_not_400():
    async def chunks():
        for _ in range(10):
            yield b'{"name": "' + b"x" * 50_000

    response = await send("POST", "/things", content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


async def test_405_names_the_allowed_methods_and_401_the_scheme():
    not_allowed = await send("PUT", "/things")
    # Both routes of the path, not only the first one Starlette matched.
    assert not_allowed.status_code == 405 and not_allowed.headers["allow"] == "DELETE, POST"
    assert not_allowed.json()["code"] == "method_not_allowed"
    unauthorized = await send("GET", "/secret")
    assert unauthorized.status_code == 401 and unauthorized.headers["www-authenticate"].startswith("Bearer")


def test_parse_json_refuses_deep_nesting_before_anything_recurses_on_it():
    nested = b'{"events": [' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"]}"
    with pytest.raises(InvalidInput) as caught:
        parse_json(nested)
    assert caught.value.code == "json_too_deep"
    assert parse_json(b'{"events": [[1]]}') == {"events": [[1]]}


def test_metrics_label_only_known_methods():
    assert metric_method("GET") == "GET"
    assert metric_method("FOOBAR") == "other"


async def test_a_made_up_method_does_not_become_a_metrics_series():
    """Issue 16 finding 7: `FOOBAR /things` created a series labelled FOOBAR."""
    from prometheus_client import REGISTRY

    from shared.app import RequestContext

    app = make_app()
    app.add_middleware(RequestContext, service="bodies-test")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                 base_url="http://t") as client:
        await client.request("FOOBAR", "/things")
    methods = {sample.labels["method"] for metric in REGISTRY.collect() for sample in metric.samples
               if sample.labels.get("service") == "bodies-test" and "method" in sample.labels}
    assert methods == {"other"}
