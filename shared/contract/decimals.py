"""Decimal amounts as the HTTP documents describe them: a string of digits (or a JSON number) with a bounded
number of integer and decimal places — the same bounds the model enforces.

pydantic documents a Decimal as "a number or any string" and checks `max_digits`/`decimal_places` without
saying so, so integrators' generated clients allowed what we refuse. Each type here carries its bounds in
`x-silkgate-decimal`: shared.openapi turns that into `pattern`/`maxLength` and `maximum`/`multipleOf` in the
OpenAPI documents, and the event contract export drops it (event schemas are versioned: they keep their shape).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import PydanticCustomError

MARKER = "x-silkgate-decimal"


def decimal_pattern(integer_digits: int, places: int, *, positive: bool) -> str:
    """A regular expression for the plain decimal text: no sign, exponent, spaces or leading zeros. Trailing zeros
    are no extra precision (208.510 is 208.51), as pydantic counts decimal places."""
    fraction = rf"(?:\.\d{{1,{places}}}0*)?" if places else ""
    whole = rf"[1-9]\d{{0,{integer_digits - 1}}}{fraction}"
    if not positive:
        return rf"^(?:0|{whole.removesuffix(fraction)}){fraction}$"
    # Positive: a whole part from 1, or 0.<at least one non-zero digit>.
    tails = "|".join("0" * zeros + rf"[1-9]\d{{0,{places - zeros - 1}}}" for zeros in range(places))
    return rf"^(?:{whole}|0\.(?:{tails})0*)$" if places else rf"^{whole}$"


def amount(integer_digits: int, places: int, *, positive: bool = False) -> Any:
    """An Annotated Decimal type of at most `integer_digits`.`places` digits, zero allowed unless `positive`."""
    pattern = decimal_pattern(integer_digits, places, positive=positive)
    compiled = re.compile(pattern)
    # Room for a few trailing zeros; the length is enforced with the pattern.
    max_length = integer_digits + (places + 1 if places else 0) + 4
    bounds = {"pattern": pattern, "maxLength": max_length,
              "maximum": float(Decimal(10) ** integer_digits - Decimal(10) ** -places),
              "multipleOf": float(Decimal(10) ** -places), "positive": positive}

    def plain_text(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, bool):
            raise PydanticCustomError("decimal_type", "Input should be a decimal string or number")
        # pydantic's own checks first, so a negative or over-precise amount keeps its specific code.
        parsed = handler(value)
        if isinstance(value, str) and not (len(value) <= max_length and compiled.fullmatch(value)):
            raise PydanticCustomError(
                "decimal_format", "Input should be plain decimal text with at most {integer} integer and "
                "{places} decimal digits, e.g. 208.51", {"integer": integer_digits, "places": places})
        return parsed

    lower = {"gt": 0} if positive else {"ge": 0}
    # The constraints first, so they stay on the Decimal (and in its JSON schema); the text check wraps them.
    return Annotated[Decimal, Field(**lower, max_digits=integer_digits + places, decimal_places=places,
                                    json_schema_extra={MARKER: bounds}),
                     WrapValidator(plain_text)]


def refine_decimal(node: dict[str, Any]) -> None:
    """OpenAPI: a property carrying the marker gets its bounds on the number and string alternatives."""
    bounds = node.pop(MARKER)
    for branch in node.get("anyOf", [node]):
        if branch.get("type") == "string":
            branch.update(pattern=bounds["pattern"], maxLength=bounds["maxLength"])
        elif branch.get("type") == "number":
            branch.update(maximum=bounds["maximum"], multipleOf=bounds["multipleOf"])


def strip_marker(node: Any) -> Any:
    """The event contract's schemas without the marker (their shape is versioned; shared.contract.export)."""
    if isinstance(node, dict):
        node.pop(MARKER, None)
        for value in node.values():
            strip_marker(value)
    elif isinstance(node, list | tuple):
        for value in node:
            strip_marker(value)
    return node
