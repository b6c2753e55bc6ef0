"""The rules on the other parties' documents and on the partners (pure): who may send a payment, what makes it
well formed, when a retry is the same payment; and when an order may be returned."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.orders.domain.documents import (
    PartnerView,
    partner_violations,
    payment_violations,
    role_violation,
    same_payment,
)
from services.orders.returns import return_refusal
from shared.contract.parcel import Payment
from tests.orders.domain.factories import RESIDENT_ID, USCC

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALIPAY = PartnerView(code="ALIPAY", name="Alipay")
PAYMENT = {"payer_name": "Wang Fang", "payer_id_type": "resident_id", "payer_id_number": RESIDENT_ID,
           "provider": "Alipay", "transaction_id": "T-1", "amount": "208.51", "currency": "CNY",
           "paid_at": "2026-03-01T10:15:00+08:00"}


def faults(**changes) -> set[tuple[str, str]]:
    payment = Payment.model_validate({**PAYMENT, **changes})
    return {(v.field, v.code) for v in payment_violations(payment, provider=ALIPAY, now=NOW)}


def test_a_well_formed_payment_has_no_fault_whatever_its_amount_or_currency() -> None:
    assert faults() == set()
    assert faults(amount="0.01", currency="USD") == set()  # the match with the order is customs' (DOMAIN.md §6)
    assert faults(provider="ALIPAY") == faults(provider="alipay") == set()


@pytest.mark.parametrize(("changes", "fault"), [
    ({"provider": "WeChat Pay"}, ("provider", "provider_mismatch")),
    ({"currency": "XAU"}, ("currency", "currency_unknown")),
    ({"payer_id_number": "11010519491231002Y"}, ("payer_id_number", "id_number_invalid")),
    ({"payer_id_type": None}, ("payer_id_type", "id_incomplete")),
    ({"paid_at": "1999-12-31T23:59:59Z"}, ("paid_at", "time_out_of_range")),
    ({"paid_at": "0001-01-01T00:00:00+01:00"}, ("paid_at", "time_out_of_range")),
    ({"paid_at": "2026-03-02T12:00:01Z"}, ("paid_at", "time_out_of_range")),
    ({"paid_at": "2026-03-01T10:15:00"}, ("paid_at", "timezone_required")),
])
def test_each_fault_names_its_field(changes: dict, fault: tuple[str, str]) -> None:
    assert faults(**changes) == {fault}


def test_a_retry_is_the_same_document_and_nothing_else() -> None:
    recorded = Payment.model_validate(PAYMENT)
    assert same_payment(recorded, Payment.model_validate({**PAYMENT, "paid_at": "2026-03-01T02:15:00Z"}))
    assert same_payment(recorded, Payment.model_validate({**PAYMENT, "amount": "208.510"}))
    assert not same_payment(recorded, Payment.model_validate({**PAYMENT, "amount": "208.50"}))
    assert not same_payment(recorded, Payment.model_validate({**PAYMENT, "payer_name": "Li Lei"}))


def test_a_partner_key_belongs_to_a_registered_partner_of_its_kind() -> None:
    assert role_violation(role="payment", partner_kind="payment", owner="ALIPAY") is None
    assert role_violation(role="logistics", partner_kind="logistics", owner="YTO") is None
    assert role_violation(role="payment", partner_kind=None, owner="ALIPAY").code == "partner_unknown"
    assert role_violation(role="payment", partner_kind="logistics", owner="YTO").code == "partner_kind_mismatch"
    assert role_violation(role="logistics", partner_kind="payment", owner="ALIPAY").code == "partner_kind_mismatch"


def test_a_partners_uscc_passes_its_check_character() -> None:
    assert partner_violations(uscc=None) == partner_violations(uscc=USCC) == []
    assert [v.code for v in partner_violations(uscc=USCC[:-1] + "4")] == ["uscc_invalid"]


@pytest.mark.parametrize(("status", "code"), [
    ("accepted", "return_not_allowed"), ("awaiting_clearance", "return_not_allowed"),
    ("on_hold", "return_not_allowed"), ("released", "return_not_allowed"), ("rejected", "return_not_allowed"),
    ("cancelled", "return_not_allowed"), ("handed_off", None), ("in_transit", None), ("delivered", None),
    ("returned", None),
])
def test_a_return_follows_the_handoff(status: str, code: str | None) -> None:
    refusal = return_refusal(channel="ecommerce", direction="import", status=status, requested_before=False)
    assert (refusal.code if refusal else None) == code


def test_a_return_is_asked_for_once_and_only_for_ecommerce_imports() -> None:
    assert return_refusal(channel="ecommerce", direction="import", status="delivered",
                          requested_before=True).code == "return_already_requested"
    for channel, direction in (("mail", "import"), ("express", "export"), ("ecommerce", "export")):
        refusal = return_refusal(channel=channel, direction=direction, status="delivered", requested_before=False)
        assert refusal is not None and refusal.code == "return_not_allowed"
    assert "Cancel it instead" in return_refusal(channel="ecommerce", direction="import", status="released",
                                                 requested_before=False).detail
