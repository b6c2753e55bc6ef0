"""Points in time a client sends: with a time zone, and convertible to UTC.

`0001-01-01T00:00:00+01:00` is a valid RFC 3339 date-time, but in UTC it falls before year 1, which Python cannot
represent: comparing or storing it raised OverflowError (a 500). These types refuse it as invalid input instead.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator
from pydantic_core import PydanticCustomError


def in_utc_range(value: datetime) -> datetime:
    """The value itself, if it has a UTC equivalent (years 1–9999 once the offset is applied)."""
    if value.tzinfo is None:
        return value
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError("date_out_of_range",
                                  "The date-time falls outside years 1–9999 once converted to UTC") from None
    return value


def rfc3339_only(value: Any) -> Any:
    """pydantic reads a number (or `0.5` in a query) as Unix seconds; the documents say an RFC 3339 date-time."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        raise PydanticCustomError("datetime_format", "Input should be an RFC 3339 date-time, e.g. 2026-03-01T00:00:00Z")
    return value


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")

# Either kind: a naive value is passed through (endpoints that require a zone say so themselves).
Instant = Annotated[datetime, BeforeValidator(rfc3339_only), AfterValidator(in_utc_range)]
AwareInstant = Annotated[AwareDatetime, BeforeValidator(rfc3339_only), AfterValidator(in_utc_range)]
