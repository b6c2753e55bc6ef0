"""What an order's timeline says customs and postal decided: the form, the carrier, the tax assessed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.orders.paper.facts import FILED, HELD, RELEASED, WAYBILL_ISSUED, order_facts, order_paper_fields

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


@dataclass
class Entry:
    event_type: str
    occurred_at: datetime
    data: dict[str, Any]


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


BILL = {"tax_no": "TX1", "invt_no": None, "taxable_value_cny": "195.70", "customs_duty_cny": "0.00",
        "vat_cny": "17.81", "consumption_tax_cny": "0.00", "total_cny": "17.81", "issued_at": None, "lines": []}


def test_nothing_decided_yet():
    assert order_paper_fields([]) == {"customs_form": None, "assessed_tax": None}


def test_the_latest_form_by_the_time_it_happened_wins_whatever_the_arrival_order():
    entries = [
        Entry(HELD, at(3), {"form": "CN23", "status": "manual_review"}),  # the broker amended: now a CN23
        Entry(FILED, at(1), {"form": "CN22"}),  # arrived late
        Entry(HELD, at(4), {"status": "inspection"}),  # a hold without a form changes nothing
    ]
    assert order_facts(entries).customs_form == "CN23"


def test_carrier_from_the_waybill():
    assert order_facts([Entry(WAYBILL_ISSUED, at(0), {"carrier": "KZPOST"})]).carrier == "KZPOST"


def test_the_tax_assessed_on_release_with_its_bill():
    entries = [Entry(FILED, at(1), {"form": "inventory_list"}),
               Entry(RELEASED, at(5), {"form": "inventory_list", "value_cny": "183.70", "tax_cny": "17.81",
                                       "tax_bill": BILL})]
    fields = order_paper_fields(entries)
    assert fields["customs_form"] == "inventory_list"
    tax = fields["assessed_tax"]
    assert (tax["form"], tax["value_cny"], tax["tax_cny"], tax["released_at"]) == (
        "inventory_list", "183.70", "17.81", at(5))
    assert tax["tax_bill"]["total_cny"] == "17.81" and tax["tax_bill"]["vat_cny"] == "17.81"


def test_a_release_without_a_bill_shows_the_tax_alone():
    fields = order_paper_fields([Entry(RELEASED, at(5), {"form": "CN23", "value_cny": "128.05", "tax_cny": "0"})])
    assert fields["assessed_tax"]["tax_bill"] is None
    assert fields["assessed_tax"]["tax_cny"] == "0"
