"""Which document an order can have now, and how values are printed (pure rules)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.orders.paper.content import country_name, destination_line, masked_id, money, quantity
from services.orders.paper.rules import (
    customs_form_problem,
    document_problem,
    human_readable,
    incoterm,
    is_s10,
    label_problem,
    s10_service,
)
from shared.contract.parcel import Party


def test_a_label_needs_the_tracking_number_and_says_when_to_retry():
    problem = label_problem(order_id="ord_1", status="accepted", tracking_number=None, retry_after_s=7)
    assert (problem.status, problem.code, problem.headers) == (409, "tracking_number_pending", {"Retry-After": "7"})
    assert label_problem(order_id="ord_1", status="accepted", tracking_number="CP123456785CN", retry_after_s=7) is None


@pytest.mark.parametrize("number", ["SF中1234", "AB\t12", "AB\x7f12"])
def test_a_number_code_128_cannot_carry_gets_no_label(number):
    problem = label_problem(order_id="ord_1", status="accepted", tracking_number=number, retry_after_s=5)
    assert (problem.status, problem.code, problem.headers) == (409, "tracking_number_not_encodable", {})
    assert label_problem(order_id="ord_1", status="accepted", tracking_number="JD 0001-a~", retry_after_s=5) is None


@pytest.mark.parametrize("status", ["cancelled", "rejected"])
def test_an_order_that_will_not_travel_has_no_label(status):
    problem = label_problem(order_id="ord_1", status=status, tracking_number="CP123456785CN", retry_after_s=5)
    assert (problem.status, problem.code, problem.headers) == (409, "order_not_shippable", {})
    assert problem.extra == {"order_status": status}


def test_cn_forms_are_for_mail_once_customs_has_chosen():
    def problem(**overrides):
        return customs_form_problem(**{"order_id": "ord_1", "channel": "mail", "status": "awaiting_clearance",
                                       "form": None, "retry_after_s": 5, **overrides})

    pending = problem()
    assert (pending.status, pending.code, pending.headers) == (409, "customs_form_pending", {"Retry-After": "5"})
    assert problem(form="CN22") is None and problem(form="CN23") is None
    for channel in ("express", "ecommerce"):
        assert (problem(channel=channel, form="express_B").status, problem(channel=channel).code) == (
            404, "document_not_applicable")
    never = problem(status="rejected")
    assert (never.status, never.code, never.headers) == (409, "customs_form_unavailable", {})
    # A form customs chose before the order was cancelled still prints.
    assert problem(status="cancelled", form="CN23") is None


def test_the_commercial_invoice_is_always_there():
    for channel in ("mail", "express", "ecommerce"):
        assert document_problem("commercial_invoice", order_id="ord_1", channel=channel, status="accepted",
                                tracking_number=None, form=None, retry_after_s=5) is None


def test_incoterm_is_ddp_for_ecommerce_imports_only():
    assert incoterm(channel="ecommerce", direction="import") == "DDP"
    assert incoterm(channel="ecommerce", direction="export") == "DAP"
    assert incoterm(channel="express", direction="import") == "DAP"


def test_s10_ids_are_recognised_described_and_grouped():
    assert is_s10("RR287043775IN") and is_s10("CP123456785CN")
    assert not any(is_s10(n) for n in ("RR28704377IN", "rr287043775IN", "1234567890123", "SF1234567890123",
                                        "RR２87043775IN"))
    assert s10_service("CP123456785CN") == "CP · parcel"
    assert s10_service("EA123456785CN") == "EA · EMS"
    assert s10_service("SF1234567890123") is None
    assert human_readable("RR287043775IN") == "RR 287 043 775 IN"
    assert human_readable("SF1234567890123") == "SF1234567890123"


def test_personal_ids_are_masked_company_ids_are_not():
    def party(id_type, id_number):
        return Party(name="X", phone="+86 138", address="A", country="CN", id_type=id_type, id_number=id_number)

    assert masked_id(party("resident_id", "11010519491231002X")) == "110105********002X"
    assert masked_id(party("passport", "E12345678")) == "*****5678"
    assert masked_id(party("passport", "E12")) == "***"
    assert masked_id(party("uscc", "91350100M000100Y43")) == "91350100M000100Y43"
    assert masked_id(party(None, None)) is None


def test_values_as_printed():
    assert money(Decimal("12345.6"), "CNY") == "12,345.60 CNY"
    assert quantity(Decimal("2.000")) == "2" and quantity(Decimal("2.500")) == "2.5" and quantity(Decimal(3)) == "3"
    assert country_name("KZ") == "Kazakhstan" and country_name("KR") == "South Korea" and country_name("ZZ") == "ZZ"
    kazakh = Party(name="X", phone="+7 727", address="A", country="KZ")
    assert destination_line(kazakh) == "KAZAKHSTAN (KZ)"
