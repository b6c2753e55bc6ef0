"""Mail and express filings as JSON messages: CUSITM (the ITMATT/CUSITM content of a CN22/CN23) and EXPMANIFEST
(an express manifest line). The models in shared.ceb.json_messages are their schema."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from services.customs.messages.facts import Declarant, FilingFacts
from shared.ceb.errors import MessageRuleViolation
from shared.ceb.json_messages import Cusitm, ExpManifest, Filer, JsonMessage
from shared.contract.parcel import Party

# CN22/CN23 "category of item" for each contents type of the parcel.
CATEGORIES = {"gift": "gift", "documents": "documents", "commercial_sample": "commercial_sample",
              "returned_goods": "returned_goods", "merchandise": "sale_of_goods", "other": "other"}


def filer(declarant: Declarant) -> dict[str, str]:
    return Filer(cop_code=declarant.cop_code, cop_name=declarant.cop_name, dxp_id=declarant.dxp_id).model_dump()


def postal_party(party: Party) -> dict[str, Any]:
    return {"name": party.name, "address": party.address, "city": party.city, "postal_code": party.postal_code,
            "country": party.country, "phone": party.phone}


def _hs(code: str) -> str:
    return code.replace(".", "").replace(" ", "")


def build_cusitm(facts: FilingFacts, declarant: Declarant, *, guid: str) -> Cusitm:
    """A mail item's customs content, from the declaration's current lines."""
    parcel = facts.parcel
    if facts.form not in ("CN22", "CN23"):
        raise MessageRuleViolation("form", f"{facts.form!r}: a mail item is declared on a CN22 or CN23",
                                   code="code_table")
    lines = [{"line_no": number, "description": line.description or line.name, "quantity": line.quantity,
              "net_weight_kg": line.net_weight_kg, "value": line.total_price, "hs_code": _hs(line.hs_code),
              "origin_country": line.origin_country}
             for number, line in enumerate(facts.lines, start=1)]
    return validated(Cusitm, {
        "guid": guid, "cop_no": facts.declaration_id, "app_time": facts.app_time, "filer": filer(declarant),
        "app_type": facts.app_type, "item_id": facts.tracking_number or "", "order_no": parcel.merchant_order_no,
        "direction": facts.direction, "form": facts.form, "category": CATEGORIES[parcel.contents_type],
        "mail_product": parcel.mail_product, "sender": postal_party(parcel.sender),
        "addressee": postal_party(parcel.consignee), "lines": lines, "currency": parcel.currency,
        "total_value": sum(line["value"] for line in lines),
        "total_net_weight_kg": sum(line["net_weight_kg"] for line in lines),
        "gross_weight_kg": parcel.weight_kg, "postage": parcel.freight,
    })


def build_expmanifest(facts: FilingFacts, declarant: Declarant, *, guid: str) -> ExpManifest:
    """An express shipment's manifest line, its category from the declaration's form (express_A … express_D)."""
    parcel = facts.parcel
    category = (facts.form or "").removeprefix("express_")
    if category not in ("A", "B", "C", "D"):
        raise MessageRuleViolation("category", f"{facts.form!r}: an express shipment is of category A, B, C or D",
                                   code="code_table")
    contents = [{"line_no": number, "description": line.description or line.name, "quantity": line.quantity,
                 "value": line.total_price, "hs_code": _hs(line.hs_code), "origin_country": line.origin_country}
                for number, line in enumerate(facts.lines, start=1)]
    return validated(ExpManifest, {
        "guid": guid, "cop_no": facts.declaration_id, "app_time": facts.app_time, "filer": filer(declarant),
        "app_type": facts.app_type, "waybill_no": facts.tracking_number or "", "order_no": parcel.merchant_order_no,
        "direction": facts.direction, "category": category, "carrier": parcel.carrier,
        "consignor": postal_party(parcel.sender), "consignee": postal_party(parcel.consignee), "contents": contents,
        "currency": parcel.currency, "value": sum(line["value"] for line in contents),
        "gross_weight_kg": parcel.weight_kg,
    })


def validated(model: type[JsonMessage], values: dict[str, Any]) -> Any:
    """Validate against the message's model; the first error becomes a MessageRuleViolation naming the field."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error.get("loc", ())) or model.__name__
        raise MessageRuleViolation(field, error.get("msg", "invalid"), code="schema") from exc
