"""Request bodies that cannot be read: one answer everywhere, with a stable code per cause.

Every service reads JSON the same way, whether FastAPI parses it or an endpoint does (postal's tracking events,
the sandbox authority): a body that is not UTF-8, not JSON, nested too deep or holding a number too long to
convert is 422 problem+json with `field: body`; a body over the size limit is 413. The OpenAPI documents say so
once (shared.openapi).
"""

from __future__ import annotations

import json
from typing import Any

from shared.errors import InvalidInput, PayloadTooLarge, SilkgateError

# No document of ours nests deeper than a handful of levels; a JSON parser recursing further is an attack surface.
MAX_DEPTH = 32

UNREADABLE_CODES = ("json_invalid", "body_not_utf8", "json_too_deep", "json_number_too_long")


class BodyTooLarge(PayloadTooLarge):
    """Raised while reading a (chunked) body that passes the limit; answered 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"Request body is larger than {max_bytes} bytes", code="body_too_large")


def unreadable(cause: BaseException) -> SilkgateError:
    """The problem for a body that could not be parsed, from the exception the parser raised."""
    if isinstance(cause, SilkgateError):
        return cause
    if isinstance(cause, UnicodeDecodeError):
        return InvalidInput("The body is not UTF-8 text", code="body_not_utf8", field="body")
    if isinstance(cause, RecursionError):
        return too_deep()
    if isinstance(cause, ValueError) and "digits" in str(cause):
        # int() refuses strings over sys.get_int_max_str_digits (CVE-2020-10735).
        return InvalidInput("The body holds a number with too many digits", code="json_number_too_long",
                            field="body")
    if isinstance(cause, json.JSONDecodeError):
        return InvalidInput(f"The body is not valid JSON: {cause.msg} at byte {cause.pos}", code="json_invalid",
                            field="body")
    return InvalidInput("The body is not valid JSON", code="json_invalid", field="body")


def too_deep() -> InvalidInput:
    return InvalidInput(f"The body nests deeper than {MAX_DEPTH} levels", code="json_too_deep", field="body")


def parse_json(raw: bytes) -> Any:
    """JSON from a request body, or the same InvalidInput FastAPI-parsed bodies get."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise unreadable(exc) from None
    if depth_exceeds(document, MAX_DEPTH):
        raise too_deep()
    return document


def depth_exceeds(document: Any, limit: int) -> bool:
    """True when arrays/objects nest deeper than `limit` (iterative: no recursion on hostile input)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
