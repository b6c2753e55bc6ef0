"""Bodies of the sandbox carrier's API: the manifest postal posts (only what we read is checked)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class ManifestDispatch(BaseModel):
    model_config = ConfigDict(extra="allow")

    dispatch_id: Annotated[str, Field(min_length=1, max_length=64)]
    carrier: Annotated[str, Field(min_length=1, max_length=16)]
    origin_office: str = ""
    destination_office: str = ""


class ManifestItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    tracking_number: Annotated[str, Field(min_length=1, max_length=40)]


class ManifestIn(BaseModel):
    """A dispatch manifest as postal builds it (PREDES/CARDIT header, receptacles, ITMATT items)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "manifest_version": 1,
        "dispatch": {"dispatch_id": "CNURCAKZALAAACN60001", "carrier": "SGPOST", "origin_office": "CNURCA",
                     "destination_office": "KZALAA"},
        "receptacles": [],
        "items": [{"tracking_number": "CP000000014CN", "addressee": {"city": "Almaty"}}],
    }]})

    manifest_version: StrictInt = 1  # JSON false is not 0
    dispatch: ManifestDispatch
    items: Annotated[list[ManifestItem], Field(min_length=1, max_length=50_000)]


class Receipt(BaseModel):
    receipt_id: str
    dispatch_id: str
    carrier: str
    items: int
    received_at: str
    duplicate: bool
    events_planned: int | None = None


class ManifestStatus(BaseModel):
    receipt: Receipt
    events: dict[str, int] = Field(description="Planned events by state: planned, accepted, duplicate, given_up")

