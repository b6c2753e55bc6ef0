"""What customs and postal decided about an order, read from its timeline.

Every event about an order is on its timeline once, with its payload (recording.timeline_entry keeps all but the
parcel, payment and consignee), so the form customs chose, the carrier postal booked and the tax assessed on release
need no column of their own and no change to how events are recorded:
- the customs form: the latest (by the time it happened) declaration.filed, .held or .released that names one;
- the carrier: the latest waybill.issued;
- the tax: the latest declaration.released (value, tax, and for e-commerce imports the CEB816 tax bill).
Events arrive late and out of order; "latest" is by occurred_at, the time customs or postal says it happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.contract.events import DeclarationFiled, DeclarationHeld, DeclarationReleased, TaxBill, WaybillIssued

FILED = DeclarationFiled.event_type()
HELD = DeclarationHeld.event_type()
RELEASED = DeclarationReleased.event_type()
WAYBILL_ISSUED = WaybillIssued.event_type()
# The timeline entries the documents read.
PAPER_EVENT_TYPES = (FILED, HELD, RELEASED, WAYBILL_ISSUED)
_FORM_EVENTS = frozenset({FILED, HELD, RELEASED})


class TimelineRecord(Protocol):
    """A timeline entry as stored (models.OrderEvent)."""

    event_type: str
    occurred_at: datetime
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Release:
    """What customs said when it released the parcel."""

    form: str
    value_cny: str
    tax_cny: str
    released_at: datetime
    tax_bill: TaxBill | None


@dataclass(frozen=True)
class OrderFacts:
    customs_form: str | None = None
    carrier: str | None = None
    release: Release | None = None


def order_facts(entries: Iterable[TimelineRecord]) -> OrderFacts:
    """The form, carrier and release of an order from its timeline entries (in any order)."""
    form = carrier = release = None
    form_at = carrier_at = release_at = None
    for entry in entries:
        data, at = entry.data or {}, entry.occurred_at
        if entry.event_type in _FORM_EVENTS and data.get("form") and _later(at, form_at):
            form, form_at = data["form"], at
        if entry.event_type == WAYBILL_ISSUED and data.get("carrier") and _later(at, carrier_at):
            carrier, carrier_at = data["carrier"], at
        if entry.event_type == RELEASED and _later(at, release_at):
            release, release_at = _release(data, at), at
    return OrderFacts(customs_form=form, carrier=carrier, release=release)


def _later(at: datetime, than: datetime | None) -> bool:
    return than is None or at >= than


def _release(data: Mapping[str, Any], at: datetime) -> Release:
    bill = data.get("tax_bill")
    return Release(form=str(data.get("form", "")), value_cny=str(data.get("value_cny", "0")),
                   tax_cny=str(data.get("tax_cny", "0")), released_at=at,
                   tax_bill=TaxBill.model_validate(bill) if bill else None)


def assessed_tax(facts: OrderFacts) -> dict[str, Any] | None:
    """The tax shown on the order (schemas.AssessedTax), once customs has released it; None before."""
    release = facts.release
    if release is None:
        return None
    return {"form": release.form, "value_cny": release.value_cny, "tax_cny": release.tax_cny,
            "released_at": release.released_at,
            "tax_bill": release.tax_bill.model_dump(mode="json") if release.tax_bill else None}


def order_paper_fields(entries: Iterable[TimelineRecord]) -> dict[str, Any]:
    """The fields an order's detail view shows from its timeline: customs_form and assessed_tax."""
    facts = order_facts(entries)
    return {"customs_form": facts.customs_form, "assessed_tax": assessed_tax(facts)}
