"""The exchange's JSON messages; each pydantic model is the message's schema.

- CUSITM: a mail item's customs content (the ITMATT/CUSITM data of a CN22/CN23): sender, addressee, category, per
  line description/quantity/net weight/value/HS code/origin, totals, and the S10 item id.
- EXPMANIFEST: an express shipment's manifest line: waybill number, category A–D, consignor, consignee, contents,
  value, weight.
- REVIEWANSWER: a broker's answer to a manual review (300): an explanation and document references.
- INSPECTIONRECORD: a broker's record of an inspection (500): who attended, when, the outcome (passed|failed).

Every message names its own guid (the transport MessageId), the declaration (cop_no) and the filer. Answers name
the guid of the filing they answer (`answers_guid`). How they are authenticated: see shared.ceb.signing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.ceb.errors import MessageMalformed
from shared.ceb.fields import GUID_PATTERN

Guid = Annotated[str, Field(pattern=f"^{GUID_PATTERN.pattern}$")]
Text64 = Annotated[str, Field(min_length=1, max_length=64)]
Text128 = Annotated[str, Field(min_length=1, max_length=128)]
Text512 = Annotated[str, Field(min_length=1, max_length=512)]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
HsCode = Annotated[str, Field(pattern=r"^[0-9]{6,10}$")]
Amount = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
Weight = Annotated[Decimal, Field(gt=0, max_digits=10, decimal_places=3)]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=3)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Filer(_Model):
    """Who files: the declarant's customs code and name, and its DXP id (BaseTransfer of the XML messages)."""

    cop_code: Annotated[str, Field(min_length=1, max_length=18)]
    cop_name: Annotated[str, Field(min_length=1, max_length=100)]
    dxp_id: Annotated[str, Field(min_length=1, max_length=30)]


class _Message(_Model):
    guid: Guid
    cop_no: Annotated[str, Field(min_length=1, max_length=32)]
    app_time: AwareDatetime
    filer: Filer


class PostalParty(_Model):
    name: Text128
    address: Text512
    city: Text128 | None = None
    postal_code: Annotated[str, Field(max_length=16)] | None = None
    country: Country
    phone: Annotated[str, Field(max_length=32)] | None = None


class CusitmLine(_Model):
    line_no: Annotated[int, Field(ge=1, le=100)]
    description: Annotated[str, Field(min_length=1, max_length=256)]
    quantity: Quantity
    net_weight_kg: Weight
    value: Amount
    hs_code: HsCode
    origin_country: Country


class Cusitm(_Message):
    """A mail item's customs content (UPU ITMATT/CUSITM; CN22/CN23)."""

    message_type: Literal["CUSITM"] = "CUSITM"
    app_type: Literal[1, 2, 3] = 1
    item_id: Annotated[str, Field(pattern=r"^[A-Z]{2}[0-9]{9}[A-Z]{2}$")]
    order_no: Text64
    direction: Literal["import", "export"]
    form: Literal["CN22", "CN23"]
    category: Literal["gift", "documents", "commercial_sample", "returned_goods", "sale_of_goods", "other"]
    mail_product: Text64 | None = None
    sender: PostalParty
    addressee: PostalParty
    lines: Annotated[list[CusitmLine], Field(min_length=1, max_length=100)]
    currency: Currency
    total_value: Amount
    total_net_weight_kg: Weight
    gross_weight_kg: Weight
    postage: Amount = Decimal(0)

    @model_validator(mode="after")
    def _totals(self) -> Cusitm:
        if self.total_value != sum((line.value for line in self.lines), Decimal(0)):
            raise ValueError("total_value is not the sum of the lines' values")
        if self.total_net_weight_kg != sum((line.net_weight_kg for line in self.lines), Decimal(0)):
            raise ValueError("total_net_weight_kg is not the sum of the lines' net weights")
        return self


class ManifestLine(_Model):
    line_no: Annotated[int, Field(ge=1, le=100)]
    description: Annotated[str, Field(min_length=1, max_length=256)]
    quantity: Quantity
    value: Amount
    hs_code: HsCode | None = None
    origin_country: Country


class ExpManifest(_Message):
    """An express shipment's manifest line (category A–D, GAC Announcement 19/2016)."""

    message_type: Literal["EXPMANIFEST"] = "EXPMANIFEST"
    app_type: Literal[1, 2, 3] = 1
    waybill_no: Annotated[str, Field(min_length=1, max_length=40)]
    order_no: Text64
    direction: Literal["import", "export"]
    category: Literal["A", "B", "C", "D"]
    carrier: Annotated[str, Field(max_length=16)] | None = None
    consignor: PostalParty
    consignee: PostalParty
    contents: Annotated[list[ManifestLine], Field(min_length=1, max_length=100)]
    currency: Currency
    value: Amount
    gross_weight_kg: Weight
    pieces: Annotated[int, Field(ge=1, le=999)] = 1

    @model_validator(mode="after")
    def _value(self) -> ExpManifest:
        if self.value != sum((line.value for line in self.contents), Decimal(0)):
            raise ValueError("value is not the sum of the contents' values")
        return self


class DocumentReference(_Model):
    kind: Annotated[str, Field(min_length=1, max_length=32)]  # invoice, photo, contract, certificate, other
    reference: Text128
    description: Annotated[str, Field(max_length=512)] | None = None


class ReviewAnswer(_Message):
    """A broker's answer to a manual review (300) of the filing `answers_guid`."""

    message_type: Literal["REVIEWANSWER"] = "REVIEWANSWER"
    answers_guid: Guid
    explanation: Annotated[str, Field(min_length=1, max_length=2000)]
    documents: Annotated[list[DocumentReference], Field(max_length=20)] = []
    answered_by: Text64


class InspectionRecord(_Message):
    """A broker's record of the inspection (500) of the filing `answers_guid`."""

    message_type: Literal["INSPECTIONRECORD"] = "INSPECTIONRECORD"
    answers_guid: Guid
    attended_by: Text64
    attended_at: AwareDatetime
    outcome: Literal["passed", "failed"]
    note: Annotated[str, Field(max_length=2000)] | None = None


JsonMessage = Cusitm | ExpManifest | ReviewAnswer | InspectionRecord
MODELS: dict[str, type[_Message]] = {"CUSITM": Cusitm, "EXPMANIFEST": ExpManifest, "REVIEWANSWER": ReviewAnswer,
                                     "INSPECTIONRECORD": InspectionRecord}


def message_bytes(message: JsonMessage) -> bytes:
    """The exact bytes filed (and signed)."""
    return message.model_dump_json().encode()


def parse_json_message(kind: str, data: bytes) -> JsonMessage:
    """A received JSON message checked against its model; MessageMalformed names the field at fault."""
    model = MODELS.get(kind)
    if model is None:
        raise MessageMalformed("MessageType", f"{kind!r} is not a JSON message of the exchange",
                               code="message_type_unknown")
    try:
        message = model.model_validate_json(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error.get("loc", ())) or kind
        raise MessageMalformed(field, error.get("msg", "invalid"), code="schema_invalid") from exc
    return message  # type: ignore[return-value]
