"""Declarations from real events on a real nats-server: documents in any order, duplicates, cancellations, forms."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from tests.customs.domain.factories import line, party, payment
from tests.customs.events import (
    accepted,
    cancelled,
    express,
    green_held,
    mail,
    new_order_id,
    paid,
    waybill_for,
)
from tests.support import eventually


async def _processed(customs, order_id: str, step: str, expected_documents: int) -> None:
    """Wait until one step of a parcel's documents has been handled by the consumer."""
    if step == "order":
        await customs.wait_declaration(order_id)
    else:
        await eventually(lambda: _count_documents(customs, order_id, expected_documents))


async def _count_documents(customs, order_id, expected):
    return len(await customs.documents(order_id)) >= expected


@pytest.mark.parametrize("arrival", list(itertools.permutations(["order", "payment", "waybill"])),
                         ids=lambda order: "-".join(order))
async def test_ecommerce_documents_in_any_order_end_in_one_release(customs, arrival):
    order_id = new_order_id()
    order = accepted(order_id)
    events = {"order": order, "payment": paid(order_id), "waybill": waybill_for(order)}
    for count, step in enumerate(arrival, start=1):
        await customs.publish(events[step], subject=order_id)
        await _processed(customs, order_id, step, count)
        if step != arrival[-1]:
            assert (await customs.published(order_id, "declaration.released")) == []
    [released] = await customs.wait_published(order_id, "declaration.released")
    assert released.data["status"] == "released" and released.data["ceb_code"] == 800
    assert released.data["form"] == "inventory_list" and Decimal(released.data["tax_cny"]) == Decimal("9.10")
    assert released.correlation_id == f"corr-{order_id}"  # the parcel's journey id flows on
    assert len(await customs.published(order_id, "declaration.filed")) == 1
    declaration = await customs.declaration(order_id)
    assert declaration.status == "released" and not declaration.awaiting_documents
    documents = await customs.documents(order_id)
    assert sorted(d.kind for d in documents) == ["order", "payment", "waybill"]
    assert all(d.declaration_id == declaration.id for d in documents)  # early ones were attached on opening


async def test_payment_on_the_order_counts_as_the_payment_document(customs):
    order_id = new_order_id()
    order = accepted(order_id, payment=payment())
    await customs.publish(order, subject=order_id)
    await customs.wait_declaration(order_id)
    assert await customs.published(order_id, "declaration.released") == []
    await customs.publish(waybill_for(order), subject=order_id)
    await customs.wait_published(order_id, "declaration.released")


async def test_mismatching_documents_hold_the_declaration_with_the_fields_that_differ(customs):
    order_id = new_order_id()
    order = accepted(order_id)
    await customs.publish(order, subject=order_id)
    await customs.publish(paid(order_id, amount=Decimal("150")), subject=order_id)
    await customs.publish(waybill_for(order, consignee=party(phone="+86 139 0000 0000")), subject=order_id)
    [held] = await customs.wait_published(order_id, "declaration.held")
    # Two mismatches reach the inspection score, but paperwork goes to a broker, not to the scanner.
    assert (held.data["status"], held.data["ceb_code"]) == ("manual_review", 300)
    fields = {f["code"]: f["fields"] for f in held.data["findings"]}
    assert fields["consignee_mismatch"] == ["consignee.phone"]
    assert set(fields["amount_mismatch"]) == {"payment.amount", "order.amount_paid"}
    assert await customs.published(order_id, "declaration.released") == []


async def test_one_mismatch_goes_to_manual_review(customs):
    order_id = new_order_id()
    order = accepted(order_id)
    await customs.publish(order, subject=order_id)
    await customs.publish(paid(order_id, payer_name="Someone Else"), subject=order_id)
    await customs.publish(waybill_for(order), subject=order_id)
    [held] = await customs.wait_published(order_id, "declaration.held")
    assert (held.data["status"], held.data["ceb_code"]) == ("manual_review", 300)
    assert held.data["reason"].startswith("manual_review: payer_mismatch")
    assert [f["fields"] for f in held.data["findings"] if f["code"] == "payer_mismatch"] == [["payment.payer_name"]]


async def test_duplicate_order_accepted_never_opens_a_second_declaration(customs):
    order_id = new_order_id()
    order = mail(order_id)
    first = await customs.publish(order, subject=order_id)
    await customs.wait_published(order_id, "declaration.released")
    await customs.republish(first)  # redelivered past the broker's duplicate window: the inbox drops it
    await customs.publish(order, subject=order_id)  # re-published as a new envelope: the order id dedupes
    await customs.publish(paid(order_id), subject=order_id)  # a sentinel behind them on the same stream
    await eventually(lambda: _count_documents(customs, order_id, 2))
    assert len(await customs.published(order_id, "declaration.filed")) == 1
    assert len(await customs.published(order_id, "declaration.released")) == 1
    assert (await customs.declaration(order_id)).status == "released"


async def test_cancel_before_release_cancels_and_late_documents_do_not_release(customs):
    order_id = new_order_id()
    order = accepted(order_id)
    await customs.publish(order, subject=order_id)
    await customs.wait_declaration(order_id)
    await customs.publish(cancelled(order_id, "buyer cancelled"), subject=order_id)
    [event] = await customs.wait_published(order_id, "declaration.cancelled")
    assert (event.data["status"], event.data["ceb_code"], event.data["reason"]) == ("cancelled", 899, "buyer cancelled")
    await customs.publish(paid(order_id), subject=order_id)
    await customs.publish(waybill_for(order), subject=order_id)
    await eventually(lambda: _count_documents(customs, order_id, 3))
    assert (await customs.declaration(order_id)).status == "cancelled"
    assert await customs.published(order_id, "declaration.released") == []


async def test_cancel_after_release_is_refused_with_a_reason_the_merchant_can_read(customs):
    order_id = new_order_id()
    await customs.publish(mail(order_id), subject=order_id)
    await customs.wait_published(order_id, "declaration.released")
    await customs.publish(cancelled(order_id), subject=order_id)
    [refused] = await customs.wait_published(order_id, "declaration.cancellation_refused")
    assert refused.data["status"] == "released" and refused.data["ceb_code"] == 800
    assert refused.data["reason"].startswith("declaration already released on ")
    assert "request a return (CEB 625) instead" in refused.data["reason"]
    assert (await customs.declaration(order_id)).status == "released"


async def test_cancel_that_overtakes_its_order_opens_the_declaration_cancelled(customs):
    order_id = new_order_id()
    await customs.publish(cancelled(order_id, "too slow"), subject=order_id)
    await customs.publish(paid(order_id), subject=order_id)  # same stream, behind the cancellation
    await eventually(lambda: _count_documents(customs, order_id, 1))
    order = accepted(order_id)
    await customs.publish(order, subject=order_id)
    await customs.publish(waybill_for(order), subject=order_id)
    [event] = await customs.wait_published(order_id, "declaration.cancelled")
    assert event.data["reason"] == "too slow"
    await eventually(lambda: _count_documents(customs, order_id, 3))
    assert (await customs.declaration(order_id)).status == "cancelled"
    assert await customs.published(order_id, "declaration.filed") == []
    assert await customs.published(order_id, "declaration.released") == []


@pytest.mark.parametrize("build, form, trade_mode", [
    (lambda o: mail(o, mail_product="letter", contents_type="documents", lines=[line(name="Contract papers",
                                                                                     hs_code="4901990000")]),
     "CN22", None),
    (lambda o: mail(o, mail_product="parcel"), "CN23", None),
    (lambda o: mail(o, mail_product="registered_letter", goods_value=Decimal("2900"), amount_paid=Decimal("2900"),
                    direction="export", lines=[line(unit_price=Decimal("2900"), total_price=Decimal("2900"))]),
     "CN23", None),  # letter-post but over 300 SDR (2,880 CNY)
    (lambda o: express(o, contents_type="documents"), "express_A", None),
    (lambda o: express(o, contents_type="gift"), "express_B", None),
    (lambda o: express(o, contents_type="merchandise"), "express_C", None),
    (lambda o: express(o, contents_type="merchandise", direction="export", goods_value=Decimal("6000"),
                       amount_paid=Decimal("6000"),
                       lines=[line(quantity=Decimal("60"), total_price=Decimal("6000"))]), "express_D", None),
    (lambda o: accepted(o), "inventory_list", "9610"),
    (lambda o: accepted(o, trade_mode="1210"), "inventory_list", "1210"),
    (lambda o: accepted(o, trade_mode=None), "inventory_list", "9610"),
], ids=["mail-CN22", "mail-CN23", "mail-letter-over-300-SDR", "express-A", "express-B", "express-C", "express-D",
        "ecommerce-9610", "ecommerce-1210", "ecommerce-default-9610"])
async def test_each_channel_files_its_form(customs, build, form, trade_mode):
    order_id = new_order_id()
    await customs.publish(build(order_id), subject=order_id)
    [filed] = await customs.wait_published(order_id, "declaration.filed")
    assert (filed.data["form"], filed.data["trade_mode"]) == (form, trade_mode)
    assert (filed.data["status"], filed.data["ceb_code"]) == ("accepted", 120)


async def test_express_in_usd_is_categorised_on_its_cny_value(customs):
    order_id = new_order_id()
    usd_line = line(unit_price=Decimal("150"), total_price=Decimal("150"), currency="USD")
    await customs.publish(express(order_id, contents_type="gift", currency="USD", goods_value=Decimal("150"),
                                  amount_paid=Decimal("150"), lines=[usd_line]), subject=order_id)
    [filed] = await customs.wait_published(order_id, "declaration.filed")
    assert filed.data["form"] == "express_C"  # 150 USD = 1,065 CNY: over the B limit of 1,000 CNY
    assert Decimal(filed.data["value_cny"]) == Decimal("1065.00")


async def test_mail_and_express_are_decided_at_once_and_a_late_waybill_is_only_attached(customs):
    order_id = new_order_id()
    order = express(order_id, contents_type="gift")
    await customs.publish(order, subject=order_id)
    [released] = await customs.wait_published(order_id, "declaration.released")
    assert released.data["form"] == "express_B" and Decimal(released.data["tax_cny"]) == 0  # 13 CNY ≤ 50: waived
    await customs.publish(waybill_for(order), subject=order_id)
    await eventually(lambda: _count_documents(customs, order_id, 2))
    assert len(await customs.published(order_id)) == 2  # filed, released: nothing more


async def test_green_lane_is_carried_on_the_events(customs):
    order_id = new_order_id()
    await customs.publish(green_held(order_id), subject=order_id)
    [filed] = await customs.wait_published(order_id, "declaration.filed")
    [held] = await customs.wait_published(order_id, "declaration.held")
    assert filed.data["lane"] == held.data["lane"] == "green"
    assert held.data["findings"][0]["code"] == "undervaluation"


async def test_prohibited_goods_are_rejected(customs):
    order_id = new_order_id()
    pistol = line(name="Air pistol", hs_code="9304000000", unit_price=Decimal("900"), total_price=Decimal("900"))
    await customs.publish(mail(order_id, lines=[pistol], goods_value=Decimal("900"), amount_paid=Decimal("900")),
                          subject=order_id)
    [rejected] = await customs.wait_published(order_id, "declaration.rejected")
    assert (rejected.data["status"], rejected.data["ceb_code"]) == ("rejected", 100)
    assert rejected.data["reason_code"] == "hs_prohibited" and rejected.data["decided_by"] == "auto"


async def test_a_currency_without_a_rate_is_rejected_with_a_finding_not_a_crash(customs):
    order_id = new_order_id()
    odd = line(currency="ZZZ")
    await customs.publish(mail(order_id, currency="ZZZ", lines=[odd]), subject=order_id)
    [rejected] = await customs.wait_published(order_id, "declaration.rejected")
    assert rejected.data["reason_code"] == "unknown_currency"
    assert rejected.data["findings"][0]["fields"] == ["currency", "lines[1].currency"]
    assert await customs.published(order_id, "declaration.filed") == []


@pytest.mark.parametrize("customs_overrides", [{"random_inspection_rate": 1}])
async def test_random_sample_goes_to_inspection(customs):
    order_id = new_order_id()
    await customs.publish(mail(order_id), subject=order_id)
    [held] = await customs.wait_published(order_id, "declaration.held")
    assert (held.data["status"], held.data["ceb_code"]) == ("inspection", 500)
    assert held.data["reason"] == "inspection: random_inspection_sample"


@pytest.mark.parametrize("customs_overrides", [{"watchlist_names": ["Aynur Tursun"]}])
async def test_watchlisted_consignee_is_held(customs):
    order_id = new_order_id()
    await customs.publish(mail(order_id), subject=order_id)
    [held] = await customs.wait_published(order_id, "declaration.held")
    assert [f["code"] for f in held.data["findings"]] == ["watchlist"]


async def test_one_buyer_splitting_a_purchase_across_parcels_is_held(customs):
    two_thousand = dict(lines=[line(quantity=Decimal("20"), total_price=Decimal("2000"))],
                        goods_value=Decimal("2000"), amount_paid=Decimal("2000"))
    outcomes = []
    for _ in range(3):
        order_id = new_order_id()
        order = accepted(order_id, **two_thousand)
        await customs.publish(order, subject=order_id)
        await customs.publish(paid(order_id, amount=Decimal("2000")), subject=order_id)
        await customs.publish(waybill_for(order), subject=order_id)
        decided = await eventually(lambda oid=order_id: _decided(customs, oid))
        outcomes.append(decided)
    assert outcomes[:2] == ["released", "released"]
    assert outcomes[2] == "manual_review"
    [held] = await customs.wait_published(order_id, "declaration.held")
    assert [f["code"] for f in held.data["findings"]] == ["split_purchases"]


async def _decided(customs, order_id):
    declaration = await customs.declaration(order_id)
    return declaration.status if declaration and declaration.status != "accepted" else None


async def test_documents_missing_past_the_deadline_go_to_manual_review(customs):
    order_id = new_order_id()
    order = accepted(order_id)
    await customs.publish(order, subject=order_id)
    await customs.publish(paid(order_id), subject=order_id)
    await eventually(lambda: _count_documents(customs, order_id, 2))
    customs.clock.advance(minutes=31)
    [held] = await customs.wait_published(order_id, "declaration.held")
    assert (held.data["status"], held.data["ceb_code"]) == ("manual_review", 300)
    assert held.data["reason"] == "documents_missing: waybill"
    assert held.data["findings"][-1]["fields"] == ["documents.waybill"]
    # The waybill comes late: attached to the file, the broker's review stands.
    await customs.publish(waybill_for(order), subject=order_id)
    await eventually(lambda: _count_documents(customs, order_id, 3))
    assert (await customs.declaration(order_id)).status == "manual_review"
    assert await customs.published(order_id, "declaration.released") == []
