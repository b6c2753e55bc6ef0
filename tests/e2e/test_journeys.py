"""Whole journeys through the three services as real processes, over HTTP only (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.journey import order, payment_body

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

def timeline_types(order_view: dict) -> list[str]:
    """'silkgate.customs.declaration.held.v1' → 'declaration.held'; intake entries keep their own names."""
    return [entry["type"].split(".", 2)[-1].rsplit(".", 1)[0] if entry["type"].startswith("silkgate.")
            else entry["type"] for entry in order_view["timeline"]]


@pytest.mark.parametrize("channel", ["mail", "express", "ecommerce"])
async def test_a_parcel_of_each_channel_goes_from_order_to_delivered(actors, channel):
    placed = await actors.place(order(channel))
    assert placed["status"] == "accepted"
    await actors.wait_status(placed["id"], "delivered", timeout=90)
    # The carrier's last scan (parcel.tracking: delivered) and postal's parcel.delivered may be recorded a moment
    # apart: the status moves on the first, the timeline holds both.
    delivered = await _wait_timeline(actors, placed["id"], "parcel.delivered")
    assert delivered["tracking_number"]
    assert delivered["customs_status"] == "released"
    steps = set(timeline_types(delivered))
    for step in ("order.accepted", "waybill.issued", "declaration.filed", "declaration.released",
                 "parcel.handed_off", "parcel.tracking", "parcel.delivered"):
        assert step in steps, f"{step} missing from the timeline: {steps}"
    times = [entry["occurred_at"] for entry in delivered["timeline"]]
    assert times == sorted(times)
    parcel = await actors.parcel(delivered["tracking_number"])
    assert parcel["dispatch_id"] if "dispatch_id" in parcel else parcel["dispatch"]


async def test_a_held_declaration_amended_and_filed_by_a_broker_is_released_by_the_authority(actors):
    placed = await actors.place(order("express", name="Gift", hs="950300"))
    held = await actors.wait_status(placed["id"], "on_hold")
    assert held["status_reason"]
    declaration = await actors.declaration_of(placed["id"])
    assert (await actors.decide(declaration["id"], "release")).status_code == 410  # only the authority releases
    response = await actors.describe_and_file(declaration["id"], "Toy car, plastic")
    assert response.status_code == 200, response.text
    delivered = await actors.wait_status(placed["id"], "delivered", timeout=90)
    assert "declaration.held" in timeline_types(delivered)
    assert (await actors.declaration_of(placed["id"]))["decided_by"] == "customs authority"


async def test_a_declaration_rejected_by_a_broker_rejects_the_order_and_voids_the_waybill(actors):
    placed = await actors.place(order("mail", name="Parts", hs="847330"))
    await actors.wait_status(placed["id"], "on_hold")
    declaration = await actors.declaration_of(placed["id"])
    response = await actors.decide(declaration["id"], "reject", reason="misdeclared_goods")
    assert response.status_code == 200, response.text
    rejected = await actors.wait_status(placed["id"], "rejected")
    assert "declaration.rejected" in timeline_types(rejected)
    await _wait_timeline(actors, placed["id"], "waybill.voided")
    parcel = await actors.parcel(rejected["tracking_number"])
    assert parcel["status"] == "voided"


async def test_an_ecommerce_order_whose_payment_arrives_late_waits_then_clears(actors):
    body = order("ecommerce", payment=False, buyer=101)
    placed = await actors.place(body)
    waiting = await _wait_timeline(actors, placed["id"], "waybill.issued")
    await asyncio.sleep(1.0)
    # The order's own payment is only a claim: without the payment company's document nothing is filed.
    assert (await actors.get(placed["id"]))["status"] == "accepted"
    response = await actors.payment.post(f"/v1/orders/{placed['id']}/payment", json=payment_body(body))
    assert response.status_code == 201, response.text
    delivered = await actors.wait_status(placed["id"], "delivered", timeout=90)
    assert "payment.recorded" in timeline_types(delivered) or waiting


async def test_a_three_document_mismatch_is_held_with_the_fields_that_differ(actors):
    body = order("ecommerce", payment=False, buyer=102)
    placed = await actors.place(body)
    await _wait_timeline(actors, placed["id"], "waybill.issued")
    # The payment company reports someone else as the payer: order, payment and waybill no longer agree.
    response = await actors.payment.post(f"/v1/orders/{placed['id']}/payment",
                                         json=payment_body(body, payer="Someone Else"))
    assert response.status_code == 201, response.text
    held = await actors.wait_status(placed["id"], "on_hold")
    declaration = await actors.declaration_of(placed["id"])
    detail = (await actors.broker.get(f"/v1/declarations/{declaration['id']}")).json()
    mismatches = [f for f in detail["findings"] if f["code"].endswith("mismatch")]
    assert mismatches and any("payer" in field for f in mismatches for field in f["fields"])
    assert held["status_reason"]


async def test_a_green_channel_parcel_overtakes_ordinary_ones_in_the_brokers_queue(actors):
    ordinary = [await actors.place(order("express", name="Gift", hs="950300")) for _ in range(2)]
    for placed in ordinary:
        await actors.wait_status(placed["id"], "on_hold")
    almaty_farm = {"name": "Tulpar Honey LLP", "phone": "+7 727 3334455", "address": "8 Raiymbek Ave, Almaty",
                   "country": "KZ"}
    green = await actors.place(order("ecommerce", name="Goods", hs="0409000000", sender=almaty_farm, origin="KZ",
                                     buyer=103))
    await actors.wait_status(green["id"], "on_hold")
    queue = (await actors.broker.get("/v1/declarations", params={"needs_broker": True, "limit": 100})).json()
    order_ids = [d["order_id"] for d in queue["data"]]
    assert queue["data"][0]["lane"] == "green"
    assert order_ids.index(green["id"]) < min(order_ids.index(o["id"]) for o in ordinary)


async def test_cancel_before_release_cancels_the_declaration_and_voids_the_waybill(actors):
    placed = await actors.place(order("express", name="Gift", hs="950300"))
    await actors.wait_status(placed["id"], "on_hold")
    response = await actors.merchant.post(f"/v1/orders/{placed['id']}/cancel", json={"reason": "buyer changed mind"})
    assert response.status_code == 200, response.text
    cancelled = await actors.wait_status(placed["id"], "cancelled")
    await _wait_timeline(actors, placed["id"], "declaration.cancelled")
    await _wait_timeline(actors, placed["id"], "waybill.voided")
    declaration = await actors.declaration_of(placed["id"])
    assert declaration["status"] == "cancelled"
    assert (await actors.parcel(cancelled["tracking_number"]))["status"] == "voided"


async def test_cancel_after_handoff_is_refused_with_409(actors):
    placed = await actors.place(order("mail"))
    await actors.wait_status(placed["id"], "handed_off", "in_transit", "delivered", timeout=90)
    response = await actors.merchant.post(f"/v1/orders/{placed['id']}/cancel", json={"reason": "too late"})
    assert response.status_code == 409
    assert response.json()["code"] == "cancel_not_allowed"


async def _wait_timeline(actors, order_id: str, step: str, timeout: float = 30) -> dict:
    for _ in range(int(timeout / 0.2)):
        view = await actors.get(order_id)
        if step in timeline_types(view):
            return view
        await asyncio.sleep(0.2)
    raise AssertionError(f"{step} never reached the timeline of {order_id}: {timeline_types(view)}")


async def test_silkgate_trace_follows_one_parcel_through_the_three_services_from_real_logs(actors, stack):
    import subprocess
    import sys

    placed = await actors.place(order("mail"))
    delivered = await actors.wait_status(placed["id"], "delivered", timeout=90)
    await asyncio.sleep(0.5)  # let the last log lines reach the files
    for identifier in (placed["id"], delivered["tracking_number"], delivered["correlation_id"]):
        result = subprocess.run([sys.executable, "-m", "shared.cli", "trace", identifier, "--log-dir", str(stack.log_dir)],
                                check=False, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        services = {line.split()[2] for line in lines}
        assert {"orders", "customs", "postal"} <= services, services
        stamps = [line[:23] for line in lines]
        assert stamps == sorted(stamps), "journey printed in time order"
        assert any("order.accepted" in line for line in lines) and any("parcel.delivered" in line for line in lines)
    # The same from logs piped in from elsewhere (e.g. an aggregator's export).
    merged = "".join(path.read_text() for path in sorted(stack.log_dir.glob("*.jsonl")))
    piped = subprocess.run([sys.executable, "-m", "shared.cli", "trace", delivered["tracking_number"]],
                           check=False, input=merged, capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0 and "parcel.delivered" in piped.stdout


async def test_the_merchant_prints_the_label_and_the_cn23_and_sees_the_tax_assessed(actors):
    from tests.orders.paper.pdf import pages

    mail, ecommerce = await actors.place(order("mail")), await actors.place(order("ecommerce"))
    after_release = ("released", "handed_off", "in_transit", "delivered")
    released = await actors.wait_status(mail["id"], *after_release, timeout=90)
    label = await actors.merchant.get(f"/v1/orders/{mail['id']}/label")
    assert label.status_code == 200, label.text
    [page] = pages(label.content)
    assert page.barcodes() == [("Code128", released["tracking_number"])]
    form = await actors.merchant.get(f"/v1/orders/{mail['id']}/customs-form")
    assert form.status_code == 200, form.text
    assert "CN 23" in pages(form.content)[0].text
    assert released["customs_form"] == "CN23" and released["assessed_tax"]["form"] == "CN23"
    # An e-commerce import pays the B2C composite tax: 9.1% of 380.00 CNY (DOMAIN.md §7).
    released = await actors.wait_status(ecommerce["id"], *after_release, timeout=90)
    assert released["assessed_tax"]["tax_cny"] == "34.58", released["assessed_tax"]
