"""What every service's OpenAPI document says the same way, written once: the bearer key, problem+json errors,
unreadable and oversize bodies, and references that resolve.

FastAPI documents each endpoint from its code; the answers that come from the shared layer (the key gate, the
body limit, the error handler) are invisible to it, so they are added here to every operation. An integrator's
generated client then knows how to authenticate and what every error looks like.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

from shared.bodies import MAX_DEPTH, UNREADABLE_CODES
from shared.contract.decimals import MARKER, refine_decimal

SECURITY_SCHEME = "apiKey"
PROBLEM_REF = "#/components/schemas/Problem"
PROBLEM_JSON = "application/problem+json"
# FastAPI's own 422 body, which our handler never sends (it answers problem+json).
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details; `code` is stable, `field` names the input at fault.",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string", "description": "Stable machine-readable cause, e.g. `field_required`"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "field": {"type": "string", "description": "The input at fault: `lines[2].hs_code`, `body`, a header"},
        "errors": {"type": "array", "description": "Every field at fault when there are several",
                   "items": {"type": "object", "required": ["field", "code", "message"],
                             "properties": {"field": {"type": "string"}, "code": {"type": "string"},
                                            "message": {"type": "string"}}}},
    },
    "additionalProperties": True,
}

SHARED_ANSWERS: dict[int, str] = {
    401: "No API key, or an unknown, revoked or expired one (`WWW-Authenticate: Bearer`)",
    403: "The key's role may not do this",
    409: ("Conflict: the resource's state does not allow this, or a unique value is taken (a concurrent write: "
          "`concurrent_update`)"),
    413: "The body is larger than the service's limit (`body_too_large`), declared or chunked",
    422: ("Invalid input: `field` and a stable `code`. A body that cannot be read answers with `field: body` and "
          f"one of {', '.join(f'`{c}`' for c in UNREADABLE_CODES)} (not UTF-8, not JSON, nested deeper than "
          f"{MAX_DEPTH} levels, a number with too many digits)"),
    503: "The database or broker is unavailable; nothing was done. Retry after `Retry-After` seconds",
}


def _example(status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": f"https://silkgate.dev/problems/{code}", "title": title, "status": status, "code": code,
            "detail": detail, **extra}


SHARED_EXAMPLES: dict[int, dict[str, Any]] = {
    400: _example(400, "bad_request", "Bad request", "The request cannot be served as sent"),
    401: _example(401, "api_key_invalid", "Missing or invalid API key", "Unknown, revoked or expired API key"),
    403: _example(403, "role_not_allowed", "Not allowed for this key", "This endpoint needs a key with role ops"),
    404: _example(404, "not_found", "Not found", "No such resource (or not yours to see)"),
    409: _example(409, "conflict", "Conflict", "The resource is not in a state that allows this"),
    410: _example(410, "gone", "Gone", "This action was removed"),
    413: _example(413, "body_too_large", "Request body too large", "Request body is larger than 1000000 bytes"),
    422: _example(422, "json_invalid", "Invalid input", "The body is not valid JSON: Expecting value at byte 0",
                  field="body"),
    429: _example(429, "backlog_full", "Too many requests", "Retry after the Retry-After seconds"),
    503: _example(503, "database_unavailable", "Service unavailable",
                  "The database is unavailable; nothing was written. Retry shortly."),
}


def install_contract(app: FastAPI, *, secured_prefix: str | None = "/v1/") -> None:
    """Make app.openapi() return the refined document (built once, then cached by FastAPI); paths under
    `secured_prefix` need a key (None: none does)."""
    build = app.openapi
    refined: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not refined:
            refined.update(refine(build(), secured_prefix=secured_prefix))
            app.openapi_schema = refined
        return refined

    app.openapi = openapi  # type: ignore[method-assign]


def refine(document: dict[str, Any], *, secured_prefix: str | None = "/v1/") -> dict[str, Any]:
    """The document with the shared layer's answers, the security scheme and resolvable references."""
    document = copy.deepcopy(document)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    if secured_prefix is None:
        components.pop("securitySchemes", None)
    else:
        components["securitySchemes"] = {SECURITY_SCHEME: {
            "type": "http", "scheme": "bearer",
            "description": "An API key: `Authorization: Bearer sg_<role>_…` (made with `silkgate keys create` or "
                           "POST /v1/api-keys)"}}
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in ("get", "put", "post", "patch", "delete", "head", "options", "trace"):
                _refine_operation(operation, secured=secured_prefix is not None and path.startswith(secured_prefix),
                                  writes=method in ("post", "put", "patch", "delete"))
    _resolve_dangling(document, schemas)
    _refine_decimals(document)
    for name in FASTAPI_VALIDATION_SCHEMAS:
        if not _mentions(document, f"#/components/schemas/{name}"):
            schemas.pop(name, None)
    return document


def _refine_operation(operation: dict[str, Any], *, secured: bool, writes: bool) -> None:
    responses = operation.setdefault("responses", {})
    if secured:
        operation.setdefault("security", [{SECURITY_SCHEME: []}])
        wanted = [401, 403, 503]
    else:
        operation["security"] = []
        wanted = []
    if writes and secured:
        wanted.append(409)  # any write may meet a unique constraint another request settled (shared.errors)
    if "requestBody" in operation:
        wanted += [413, 422]
    elif operation.get("parameters"):
        wanted.append(422)
    for status in wanted:
        responses.setdefault(str(status), {"description": SHARED_ANSWERS[status]})
    for status, response in responses.items():
        if status == "default" or int(status) >= 400:
            _as_problem(response, SHARED_EXAMPLES.get(int(status) if status != "default" else 500,
                                                      _example(500, "internal_error", "Internal error",
                                                               "An unexpected error occurred; it has been logged.")))
    if "401" in responses:
        responses["401"].setdefault("headers", {})["WWW-Authenticate"] = {
            "description": "`Bearer realm=\"silkgate\"`", "schema": {"type": "string"}}
    if "413" in responses and "422" in responses and "requestBody" in operation:
        description = responses["422"]["description"]
        if "cannot be read" not in description:
            responses["422"]["description"] = f"{description}. {SHARED_ANSWERS[422]}"


def _as_problem(response: dict[str, Any], fallback_example: dict[str, Any]) -> None:
    """Every error answer is problem+json with the Problem schema; examples already given are kept."""
    content = response.get("content") or {}
    examples: dict[str, Any] = {}
    example = None
    for media in content.values():
        examples.update(media.get("examples") or {})
        example = media.get("example", example)
    problem: dict[str, Any] = {"schema": {"$ref": PROBLEM_REF}}
    if examples:  # OpenAPI: `example` and `examples` exclude each other
        problem["examples"] = examples
    else:
        problem["example"] = example if example is not None else fallback_example
    response["content"] = {PROBLEM_JSON: problem}


def _resolve_dangling(node: Any, schemas: dict[str, Any]) -> None:
    """A reference to `X` where only pydantic's `X-Input` exists (a model used in and out) points to `X-Input`."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in schemas and f"{name}-Input" in schemas:
                node["$ref"] = f"#/components/schemas/{name}-Input"
        for value in node.values():
            _resolve_dangling(value, schemas)
    elif isinstance(node, list):
        for value in node:
            _resolve_dangling(value, schemas)


def _refine_decimals(node: Any) -> None:
    if isinstance(node, dict):
        if MARKER in node:
            refine_decimal(node)
        for value in node.values():
            _refine_decimals(value)
    elif isinstance(node, list):
        for value in node:
            _refine_decimals(value)


def _mentions(node: Any, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_mentions(value, ref) for value in node.values())
    if isinstance(node, list):
        return any(_mentions(value, ref) for value in node)
    return False
