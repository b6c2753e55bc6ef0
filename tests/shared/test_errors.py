"""Errors map once to problem+json with a stable code and the field at fault."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, OperationalError

from shared.app import BodySizeLimit
from shared.errors import Conflict, InvalidInput, install_error_handlers


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=5)
    quantity: int = Field(gt=0)


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=200)

    @app.post("/things")
    async def create(body: Body) -> dict:
        if body.name == "dup":
            raise Conflict("already there", code="duplicate_thing")
        if body.name == "bad":
            raise InvalidInput("name is bad", code="name_bad", field="name")
        return {"ok": True}

    @app.get("/db")
    async def db() -> dict:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    @app.get("/connection-dropped")
    async def connection_dropped() -> dict:
        raise DBAPIError("SELECT 1", {}, Exception("connection was closed in the middle of operation"),
                         connection_invalidated=True)

    @app.get("/driver-bug")
    async def driver_bug() -> dict:
        raise DBAPIError("SELECT 1", {}, Exception("invalid input for query argument $1"))

    @app.get("/nul")
    async def nul() -> dict:
        raise DBAPIError("INSERT …", {}, Exception('invalid byte sequence for encoding "UTF8": 0x00'))

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("bug")

    return app


async def request(method: str, path: str, **kwargs) -> httpx.Response:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path, **kwargs)


async def test_typed_errors_become_problem_json_with_code_and_field():
    response = await request("POST", "/things", json={"name": "bad", "quantity": 1})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "name_bad" and body["field"] == "name" and body["status"] == 422
    conflict = await request("POST", "/things", json={"name": "dup", "quantity": 1})
    assert conflict.status_code == 409 and conflict.json()["code"] == "duplicate_thing"


async def test_framework_validation_errors_have_the_same_shape_with_every_field():
    response = await request("POST", "/things", json={"name": "toolong", "quantity": 0, "extra": 1})
    assert response.status_code == 422
    body = response.json()
    fields = {(e["field"], e["code"]) for e in body["errors"]}
    assert fields == {("name", "too_long"), ("quantity", "must_be_positive"), ("extra", "field_unknown")}
    assert body["field"] in {"name", "quantity", "extra"}


async def test_malformed_json_is_a_422_not_a_500():
    response = await request("POST", "/things", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["code"] == "json_invalid"


async def test_body_over_the_limit_is_refused_with_413():
    response = await request("POST", "/things", content=b"x" * 500, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"


async def test_database_unavailable_is_503_with_retry_after():
    response = await request("GET", "/db")
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable" and response.headers["retry-after"] == "2"


async def test_a_connection_found_dead_mid_statement_is_503_and_other_driver_errors_are_500():
    dropped = await request("GET", "/connection-dropped")
    assert dropped.status_code == 503 and dropped.json()["code"] == "database_unavailable"
    driver_bug = await request("GET", "/driver-bug")
    assert driver_bug.status_code == 500 and driver_bug.json()["code"] == "internal_error"


async def test_unexpected_errors_are_problem_json_500_without_internals():
    response = await request("GET", "/boom")
    assert response.status_code == 500 and response.json()["code"] == "internal_error"
    assert "bug" not in response.text


async def test_unknown_route_is_problem_json_404():
    response = await request("GET", "/nope")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_a_connection_lost_under_the_driver_is_the_database_being_unavailable():
    from shared.errors import _connection_lost

    class ConnectionDoesNotExistError(Exception):  # asyncpg's, by name
        pass

    class AdaptedError(Exception):  # SQLAlchemy's adaptation at pool checkout: no DBAPIError
        pass

    try:
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except ConnectionResetError:
            raise AdaptedError("connection was closed") from ConnectionDoesNotExistError("closed")
    except AdaptedError as exc:
        lost = exc
    assert _connection_lost(lost)
    assert _connection_lost(ConnectionRefusedError())
    assert not _connection_lost(ValueError("a bug"))
    assert not _connection_lost(AdaptedError("syntax error at or near"))


async def test_a_nul_character_postgresql_refuses_is_invalid_input_not_a_500():
    """Issue 16 (found by the contract run on PostgreSQL): text with U+0000 answered 500."""
    response = await request("GET", "/nul")
    assert (response.status_code, response.json()["code"]) == (422, "nul_character_not_allowed")
