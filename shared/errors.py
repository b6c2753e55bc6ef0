"""A few typed exceptions, each with its HTTP status and stable code, mapped once to problem+json (RFC 9457)."""

from __future__ import annotations

import re
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.logging import safe_error

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger()


class SilkgateError(Exception):
    """Base of every error a client may see."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(
        self,
        detail: str = "",
        *,
        code: str | None = None,
        field: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code:
            self.code = code
        self.field = field
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://silkgate.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.field:
            body["field"] = self.field
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class InvalidInput(SilkgateError):
    status, code, title = 422, "invalid_input", "Invalid input"


class Unauthorized(SilkgateError):
    status, code, title = 401, "unauthorized", "Missing or invalid API key"

    def __init__(self, detail: str = "", **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        # RFC 9110 §11.6.1: a 401 names the scheme that would succeed.
        self.headers.setdefault("WWW-Authenticate", 'Bearer realm="silkgate"')


class Forbidden(SilkgateError):
    status, code, title = 403, "forbidden", "Not allowed for this key"


class NotFound(SilkgateError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(SilkgateError):
    status, code, title = 409, "conflict", "Conflict"


class Gone(SilkgateError):
    status, code, title = 410, "gone", "Gone"


class PayloadTooLarge(SilkgateError):
    status, code, title = 413, "payload_too_large", "Request body too large"


class TooManyRequests(SilkgateError):
    status, code, title = 429, "backlog_full", "Too many requests"


class ServiceUnavailable(SilkgateError):
    status, code, title = 503, "service_unavailable", "Service unavailable"


def problem_response(error: SilkgateError, request: Request | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else None
    return JSONResponse(error.problem(instance), status_code=error.status, media_type=PROBLEM_JSON, headers=error.headers)


def _field_path(loc: tuple[Any, ...]) -> str:
    """('body', 'lines', 2, 'hs_code') → 'lines[2].hs_code'."""
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or ".".join(str(p) for p in loc)


_PYDANTIC_CODES = {
    "missing": "field_required",
    "extra_forbidden": "field_unknown",
    "string_too_long": "too_long",
    "string_too_short": "too_short",
    "too_long": "too_many_items",
    "too_short": "too_few_items",
    "string_pattern_mismatch": "format_invalid",
    "greater_than": "must_be_positive",
    "greater_than_equal": "must_not_be_negative",
    "literal_error": "value_not_allowed",
    "json_invalid": "json_invalid",
    "decimal_max_places": "too_many_decimal_places",
}


def _code(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    bound = (err.get("ctx") or {})
    # "must not be negative" only when the bound is zero; other lower/upper bounds are plain range errors.
    if kind == "greater_than_equal" and str(bound.get("ge")) not in ("0", "0.0"):
        return "too_small"
    if kind in ("less_than", "less_than_equal"):
        return "too_large"
    if kind == "greater_than" and str(bound.get("gt")) not in ("0", "0.0"):
        return "too_small"
    return _PYDANTIC_CODES.get(kind, kind or "invalid")


def validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pydantic errors → [{field, code, message}] with our stable codes."""
    return [
        {"field": _field_path(tuple(err.get("loc", ()))), "code": _code(err), "message": err.get("msg", "invalid")}
        for err in errors
    ]


def invalid_input_from(errors: list[dict[str, Any]]) -> InvalidInput:
    """One InvalidInput carrying every field at fault; the first one is the headline."""
    first = errors[0]
    return InvalidInput(first["message"], code=first["code"], field=first["field"], errors=errors)


def allowed_methods(request: Request) -> str:
    """The methods the OpenAPI document gives this path (Starlette names only the first matching route's: one path
    with POST and DELETE routes answered `Allow: POST`). As in OpenAPI, a literal path (/v1/orders/batch) wins over
    a template that also matches it (/v1/orders/{order_id})."""
    path = request.scope["path"]
    matching = [(template.count("{"), item) for template, item in request.app.openapi().get("paths", {}).items()
                if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), path)]
    if not matching:
        return ""
    _, item = min(matching, key=lambda candidate: candidate[0])
    return ", ".join(sorted(method.upper() for method in item if method in _HTTP_METHODS))


def _is_nul_character(exc: DBAPIError) -> bool:
    """PostgreSQL refusing a U+0000 in text (SQLSTATE 22021): the client sent it, SQLite would have stored it."""
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return state == "22021" or "0x00" in str(orig)


_HTTP_METHODS = frozenset({"get", "put", "post", "patch", "delete", "head", "options", "trace"})


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to problem+json exactly once."""

    @app.exception_handler(SilkgateError)
    async def _silkgate(request: Request, exc: SilkgateError) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if errors and errors[0].get("type") == "json_invalid":
            # Truncated or malformed JSON: the body is at fault, not a field named by a byte offset.
            from shared.bodies import unreadable

            reason = (errors[0].get("ctx") or {}).get("error", "invalid")
            position = errors[0].get("loc", ("body", "?"))[-1]
            error = unreadable(ValueError())
            error.detail = f"The body is not valid JSON: {reason} at byte {position}"
            return problem_response(error, request)
        return problem_response(invalid_input_from(validation_errors(errors)), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI could not read the body (not UTF-8, too deep, a number too long, over the size limit).
            from shared.bodies import unreadable

            return problem_response(unreadable(exc.__cause__), request)
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}
        # The exception's headers (Allow on 405, WWW-Authenticate on 401) are part of the answer.
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request) or headers.get("Allow", "")
        error = SilkgateError(str(exc.detail), code=codes.get(exc.status_code, f"http_{exc.status_code}"),
                              headers=headers)
        error.status, error.title = exc.status_code, str(exc.detail)
        return problem_response(error, request)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # A race that a unique constraint settled: the other request won.
        log.info("http.integrity_conflict", path=request.url.path, error=safe_error(exc))
        return problem_response(Conflict("A concurrent request changed this resource; retry.", code="concurrent_update"), request)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(ConnectionError)
    @app.exception_handler(OSError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database.unavailable", path=request.url.path, error=safe_error(exc))
        error = ServiceUnavailable("The database is unavailable; nothing was written. Retry shortly.",
                                   code="database_unavailable", headers={"Retry-After": "2"})
        return problem_response(error, request)

    @app.exception_handler(DBAPIError)
    async def _driver(request: Request, exc: DBAPIError) -> JSONResponse:
        # A pooled connection found dead mid-statement (the server restarted, the network dropped it): the pool is
        # invalidated and the next request reconnects. Anything else from the driver is a bug.
        if exc.connection_invalidated:
            return await _database(request, exc)
        if _is_nul_character(exc):
            return problem_response(InvalidInput("Text may not contain the NUL character (U+0000)",
                                                 code="nul_character_not_allowed"), request)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if _connection_lost(exc):
            return await _database(request, exc)
        log.exception("http.unhandled_error", path=request.url.path)
        error = SilkgateError("An unexpected error occurred; it has been logged.", code="internal_error")
        error.status, error.title = 500, "Internal error"
        return problem_response(error, request)


def _connection_lost(exc: BaseException) -> bool:
    """The database connection died under the request: the driver's own error class (asyncpg's, adapted by
    SQLAlchemy when the pool checks a connection out, is not a DBAPIError) caused by a reset or a closed socket."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionError) or type(current).__name__ in _LOST_CONNECTION_ERRORS:
            return True
        current = current.__cause__ or current.__context__
    return False


# asyncpg's names for a connection that went away mid-operation (matched by name: asyncpg is optional).
_LOST_CONNECTION_ERRORS = frozenset({"ConnectionDoesNotExistError", "ConnectionFailureError"})
