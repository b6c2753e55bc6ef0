"""Declarations from real events on a real nats-server: documents in any order, duplicates, cancellations, forms."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from tests.customs.domain.factories import line, party, payment
from tests.customs.events import (
    accepted,
    documents_at_least,
    express,
    green_held,
    mail,
    new_order_id,
    paid,
    publish_with_documents,
    waybill_for,
)
from tests.support import eventually


async def _processed(customs, order_id: str, step: str, expected_documents: int) -> None:
    """Wait until one step of a parcel's documents has been handled by the consumer."""
    if step == "order":
        await customs.wait_declaration(order_id)
    else:
        await eventually(lambda: documents_at_least(customs, order_id, expected_documents))


@pytest.mark.parametrize("arrival", list(itertools.permutations(["order", "payment", "waybill"])),
                         ids=lambda order: "-".join(order))
async def test_ecommerce_documents_in_any_order_end_in_one_filing(customs, arrival):
    order_id = new_order_id()
    order = accepted(order_id)
    events = {"order": order, "payment": paid(order_id), "waybill": waybill_for(order)}
    for count, step in enumerate(arrival, start=1):
        await customs.publish(events[step], subject=order_id)
        await _processed(customs, order_id, step, count)
        if step != arrival[-1]:
            assert (await customs.published(order_id, "declaration.filed")) == []
    [filed] = await customs.wait_published(order_id, "declaration.filed")
    assert (filed.data["status"], filed.data["ceb_code"]) == ("filed", 2)
    assert filed.data["form"] == "inventory_list" and filed.correlation_id == f"corr-{order_id}"
    declaration = await customs.declaration(order_id)
    assert declaration.status == "filed" and not declaration.awaiting_documents and declaration.filings == 1
    assert declaration.tax_cny == Decimal("9.10") and declaration.tracking_number == events["waybill"].tracking_number
    messages = await customs.messages(declaration.id)
    assert [(m.message_type, m.purpose, m.state) for m in messages] == [
        ("CEB311", "order", "queued"), ("CEB621", "declaration", "queued")]
    assert declaration.filing_guid == messages[1].guid
    documents = await customs.documents(order_id)
    assert sorted(d.kind for d in documents) == ["order", "payment", "waybill"]
    assert all(d.declaration_id == declaration.id for d in documents)  # early ones were attached on opening
    assert await customs.published(order_id, "declaration.released") == []  # only the authority releases


async def test_the_payment_on_the_merchants_order_is_a_claim_not_the_payment_document(customs):
    """Issue 13 finding 2: the merchant alone made the three documents agree with the payment in its own order."""
    order_id = new_order_id()
    order = accepted(order_id, payment=payment())
    await customs.publish(order, subject=order_id)
    await customs.publish(waybill_for(order), subject=order_id)
    await eventually(lambda: documents_at_least(customs, order_id, 2))
    declaration = await customs.declaration(order_id)
    assert declaration.status == "pending_documents"
    assert sorted(d.kind for d in await customs.documents(order_id)) == ["order", "waybill"]
    assert await customs.published(order_id, "declaration.filed") == []
    # The payment company's own document completes the file; the order's claim names it, so they agree.
    await customs.publish(paid(order_id), subject=order_id)
    [filed] = await customs.wait_published(order_id, "declaration.filed")
    assert filed.data["status"] == "filed"


async def test_a_payment_claim_naming_another_transaction_holds_the_declaration(customs):
    order_id = new_order_id()
    order = accepted(order_id, payment=payment(transaction_id="T-MERCHANT-SAYS"))
    for event in (order, paid(order_id, transaction_id="T-PROVIDER-SAYS"), waybill_for(order)):
        await customs.publish(event, subject=order_id)
    [held] = await customs.wait_published(order_id, "declaration.held")
    assert held.data["status"] == "held"
    fields = {f["code"]: f["fields"] for f in held.data["findings"]}
    assert fields["payment_claim_mismatch"] == ["payment.transaction_id"]


async def test_a_payment_within_one_cny_of_the_order_is_filed(customs):
    """Issue 13 finding 6: 208.01 paid against 208.51 declared is within the ±1 CNY tolerance (DOMAIN.md §6)."""
    order_id = new_order_id()
    value = dict(lines=[line(unit_price=Decimal("208.51"), total_price=Decimal("208.51"))],
                 goods_value=Decimal("208.51"), amount_paid=Decimal("208.51"))
    order = accepted(order_id, **value)
    for event in (order, paid(order_id, amount=Decimal("208.01")), waybill_for(order)):
        await customs.publish(event, subject=order_id)
    [filed] = await customs.wait_published(order_id, "declaration.filed")
    assert filed.data["status"] == "filed"


async def test_mismatching_documents_hold_the_declaration_with_the_fields_that_differ(customs):
    order_id = new_order_id()
    order = accepted(order_id)
    await customs.publish(order, subject=order_id)
    await customs.publish(paid(order_id, amount=Decimal("150")), subject=order_id)
    await customs.publish(waybill_for(order, consignee=party(phone="+86 139 0000 0000")), subject=order_id)
    [held] = await customs.wait_published(order_id, "declaration.held")
    assert (held.data["status"], held.data["ceb_code"]) == ("held", 1)
    fields = {f["code"]: f["fields"] for f in held.data["findings"]}
    assert fields["consignee_mismatch"] == ["consignee.phone"]
    assert set(fields["amount_mismatch"]) == {"payment.amount", "order.amount_paid"}
    assert await customs.published(order_id, "declaration.filed") == []
    declaration = await customs.declaration(order_id)
    assert declaration.needs_broker and await customs.messages(declaration.id) == []


async def test_one_mismatch_holds_for_a_broker(customs):
    order_id = new_order_id()
    order = accepted(order_id)
    await customs.publish(order, subject=order_id)
    await customs.publish(paid(order_id, payer_name="Someone Else"), subject=order_id)
    await customs.publish(waybill_for(order), subject=order_id)
    [held] = await customs.wait_published(order_id, "declaration.held")
    assert (held.data["status"], held.data["ceb_code"]) == ("held", 1)
    assert held.data["reason"] == "held before filing: payer_mismatch"
    assert [f["fields"] for f in held.data["findings"] if f["code"] == "payer_mismatch"] == [["payment.payer_name"]]


async def test_a_payer_without_an_id_is_a_finding_on_an_import_not_a_pass(customs):
    """Issue 13 finding 2: the payer's identity check was skipped when either side had no ID."""
    order_id = new_order_id()
    order = accepted(order_id)
    for event in (order, paid(order_id, payer_id_type=None, payer_id_number=None), waybill_for(order)):
        await customs.publish(event, subject=order_id)
    [held] = await customs.wait_published(order_id, "declaration.held")
    assert {f["code"] for f in held.data["findings"]} == {"payer_id_missing"}


@pytest.mark.parametrize("build, form, trade_mode", [
    (lambda o: mail(o, mail_product="letter", contents_type="documents", lines=[line(name="Contract papers",
                                                                                     hs_code="4901990000")]),
     "CN22", None),
    (lambda o: mail(o, mail_product="parcel"), "CN23", None),
    (lambda o: mail(o, mail_product="registered_letter", goods_value=Decimal("2900"), amount_paid=Decimal("2900"),
                    direction="export", lines=[line(unit_price=Decimal("2900"), total_price=Decimal("2900"))]),
     "CN23", None),  # letter-post but over 300 SDR (2,880 CNY)
    (lambda o: express(o, contents_type="documents", lines=[line(name="Contract", hs_code="4911998000",
                                                                 unit_price=Decimal("10"), total_price=Decimal("10"))],
                       goods_value=Decimal("10"), amount_paid=Decimal("10")), "express_A", None),
    (lambda o: express(o, contents_type="gift"), "express_B", None),
    (lambda o: express(o, contents_type="merchandise"), "express_C", None),
    (lambda o: express(o, contents_type="merchandise", direction="export", goods_value=Decimal("6000"),
                       amount_paid=Decimal("6000"),
                       lines=[line(quantity=Decimal("60"), total_price=Decimal("6000"))]), "express_D", None),
    (lambda o: accepted(o), "inventory_list", "9610"),
    (lambda o: accepted(o, trade_mode=None), "inventory_list", "9610"),
], ids=["mail-CN22", "mail-CN23", "mail-letter-over-300-SDR", "express-A", "express-B", "express-C", "express-D",
        "ecommerce-9610", "ecommerce-default-9610"])
async def test_each_channel_files_its_form(customs, build, form, trade_mode):
    order_id = new_order_id()
    await publish_with_documents(customs, build(order_id))
    [filed] = await customs.wait_published(order_id, "declaration.filed")
    assert (filed.data["form"], filed.data["trade_mode"]) == (form, trade_mode)
    assert (filed.data["status"], filed.data["ceb_code"]) == ("filed", 2)


async def test_a_bonded_1210_filing_needs_the_declarants_account_book(customs):
    """A field rule of the inventory list (DOMAIN.md §11) the declaration breaks holds it for a broker, named."""
    order_id = new_order_id()
    await publish_with_documents(customs, accepted(order_id, trade_mode="1210"))
    [held] = await customs.wait_published(order_id, "declaration.held")
    [finding] = held.data["findings"]
    assert finding["code"] == "message_rule_violation" and finding["fields"] == ["InventoryHead.emsNo"]


@pytest.mark.parametrize("customs_overrides", [{"declarant": {"ems_no": "T4600W000001"}}])
async def test_a_bonded_1210_filing_with_the_account_book_is_filed(customs):
    order_id = new_order_id()
    await publish_with_documents(customs, accepted(order_id, trade_mode="1210"))
    [filed] = await customs.wait_published(order_id, "declaration.filed")
    assert filed.data["trade_mode"] == "1210"


async def test_express_in_usd_is_categorised_on_its_cny_value(customs):
    order_id = new_order_id()
    usd_line = line(unit_price=Decimal("150"), total_price=Decimal("150"), currency="USD")
    await publish_with_documents(customs, express(order_id, contents_type="gift", currency="USD",
                                                   goods_value=Decimal("150"), amount_paid=Decimal("150"),
                                                   lines=[usd_line]))
    [filed] = await customs.wait_published(order_id, "declaration.filed")
    assert filed.data["form"] == "express_C"  # 150 USD = 1,065 CNY: over the B limit of 1,000 CNY
    assert Decimal(filed.data["value_cny"]) == Decimal("1065.00")


async def test_mail_and_express_are_filed_at_once_and_a_late_waybill_is_only_attached(customs):
    order_id = new_order_id()
    order = express(order_id, contents_type="gift")
    await customs.publish(order, subject=order_id)
    await customs.wait_declaration(order_id, "pending_documents")
    waybill = waybill_for(order)
    await customs.publish(waybill, subject=order_id)  # the express waybill number is on the manifest line
    [filed] = await customs.wait_published(order_id, "declaration.filed")
    assert filed.data["form"] == "express_B"
    declaration = await customs.declaration(order_id)
    assert declaration.tax_cny == 0  # 13 CNY ≤ 50: waived for category B
    assert declaration.tracking_number == waybill.tracking_number
    assert [m.message_type for m in await customs.messages(declaration.id)] == ["EXPMANIFEST"]
    await customs.publish(waybill_for(order, tracking_number=waybill.tracking_number), subject=order_id)  # again
    await eventually(lambda: documents_at_least(customs, order_id, 3))
    assert len(await customs.published(order_id)) == 1  # filed: nothing more


async def test_phones_declared_as_documents_are_not_category_a(customs):
    """Issue 13 finding 1: 50,000 CNY of phones as "documents" was express_A, taxed 0, released with no finding."""
    order_id = new_order_id()
    phones = line(name="Mobile phone", hs_code="8517130000", quantity=Decimal("10"), unit_price=Decimal("5000"),
                  total_price=Decimal("50000"))
    await publish_with_documents(customs, express(order_id, contents_type="documents", lines=[phones],
                                                   goods_value=Decimal("50000"), amount_paid=Decimal("50000")))
    [held] = await customs.wait_published(order_id, "declaration.held")
    [finding] = [f for f in held.data["findings"] if f["code"] == "category_a_reclassified"]
    assert "express_D" in finding["message"]
    declaration = await customs.declaration(order_id)
    assert declaration.form == "express_D" and declaration.status == "held"


async def test_green_lane_is_carried_on_the_events(customs):
    order_id = new_order_id()
    await publish_with_documents(customs, green_held(order_id))
    [held] = await customs.wait_published(order_id, "declaration.held")
    assert held.data["lane"] == "green" and (await customs.declaration(order_id)).lane_rank == 0
    assert held.data["findings"][0]["code"] == "undervaluation"


async def test_prohibited_goods_are_rejected(customs):
    order_id = new_order_id()
    pistol = line(name="Air pistol", hs_code="9304000000", unit_price=Decimal("900"), total_price=Decimal("900"))
    await publish_with_documents(customs, mail(order_id, lines=[pistol], goods_value=Decimal("900"),
                                                amount_paid=Decimal("900")))
    [rejected] = await customs.wait_published(order_id, "declaration.rejected")
    assert (rejected.data["status"], rejected.data["ceb_code"]) == ("rejected", 100)
    assert rejected.data["reason_code"] == "hs_prohibited" and rejected.data["decided_by"] == "auto"


async def test_a_currency_without_a_rate_is_rejected_with_a_finding_not_a_crash(customs):
    order_id = new_order_id()
    odd = line(currency="ZZZ")
    await publish_with_documents(customs, mail(order_id, currency="ZZZ", lines=[odd]))
    [rejected] = await customs.wait_published(order_id, "declaration.rejected")
    assert rejected.data["reason_code"] == "unknown_currency"
    assert rejected.data["findings"][0]["fields"] == ["currency", "lines[1].currency"]
    assert await customs.published(order_id, "declaration.filed") == []


@pytest.mark.parametrize("customs_overrides", [{"random_inspection_rate": 1}])
async def test_the_declarants_own_random_sample_waits_for_a_brokers_check(customs):
    order_id = new_order_id()
    await publish_with_documents(customs, mail(order_id))
    [held] = await customs.wait_published(order_id, "declaration.held")
    assert (held.data["status"], held.data["ceb_code"]) == ("held", 1)
    assert held.data["reason"] == "held before filing: random_inspection_sample"


@pytest.mark.parametrize("customs_overrides", [{"watchlist_names": ["Aynur Tursun"]}])
async def test_watchlisted_consignee_is_held(customs):
    order_id = new_order_id()
    await publish_with_documents(customs, mail(order_id))
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
    assert outcomes == ["filed", "filed", "held"]
    [held] = await customs.wait_published(order_id, "declaration.held")
    assert [f["code"] for f in held.data["findings"]] == ["split_purchases"]


async def test_exports_to_one_consignee_are_no_split_purchase(customs):
    """Issue 13 finding 7: eleven ordinary exports to one consignee held the eleventh as split_purchases."""
    for _ in range(11):
        order_id = new_order_id()
        export = express(order_id, direction="export", contents_type="merchandise",
                         lines=[line(quantity=Decimal("10"), total_price=Decimal("1000"))],
                         goods_value=Decimal("1000"), amount_paid=Decimal("1000"))
        await publish_with_documents(customs, export)
        await customs.wait_published(order_id, "declaration.filed")
    assert (await customs.declaration(order_id)).status == "filed"


async def _decided(customs, order_id):
    declaration = await customs.declaration(order_id)
    return declaration.status if declaration and declaration.status != "pending_documents" else None


async def test_documents_missing_past_the_deadline_go_to_the_brokers(customs):
    order_id = new_order_id()
    order = accepted(order_id)
    await customs.publish(order, subject=order_id)
    await customs.publish(paid(order_id), subject=order_id)
    await eventually(lambda: documents_at_least(customs, order_id, 2))
    customs.clock.advance(minutes=31)
    [held] = await customs.wait_published(order_id, "declaration.held")
    assert (held.data["status"], held.data["ceb_code"]) == ("documents_missing", 1)
    assert held.data["reason"] == "documents_missing: waybill"
    assert held.data["findings"][-1]["fields"] == ["documents.waybill"]
    # The waybill comes late: attached to the file; a broker asks for the documents again to file it.
    await customs.publish(waybill_for(order), subject=order_id)
    await eventually(lambda: documents_at_least(customs, order_id, 3))
    assert (await customs.declaration(order_id)).status == "documents_missing"
    assert await customs.published(order_id, "declaration.filed") == []
