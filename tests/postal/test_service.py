"""Waybill use cases driven directly: events out of order, kept and applied, never applied twice."""

from __future__ import annotations

from services.postal import repository, service
from shared.contract.events import WaybillIssued, WaybillVoided
from shared.db import utcnow
from tests.postal.factories import accepted, released


async def test_issuing_twice_for_one_order_returns_the_first_waybill(staging):
    stage = staging()
    first = await stage.issue("o1")
    again = await stage.issue("o1")
    assert again.tracking_number == first.tracking_number
    assert len(await stage.emitted(WaybillIssued)) == 1


async def test_a_release_and_a_void_kept_for_one_order_end_voided(staging):
    stage = staging()
    await stage.release("o1")
    await stage.void("o1", "order cancelled")
    await stage.release("o1")  # kept once
    await stage.issue("o1")
    waybill = await stage.waybill("o1")
    assert (waybill.status, waybill.receptacle_id, waybill.void_reason) == ("voided", None, "order cancelled")
    assert await stage.receptacles() == []
    await stage.void("o1")
    assert len(await stage.emitted(WaybillVoided)) == 1


async def test_a_release_kept_while_its_waybill_was_being_issued_is_applied_by_the_tick(staging):
    # Two consumers at the same moment: the release saw no waybill, the issue saw no kept release.
    stage = staging()
    await stage.issue("o1")
    async with stage.db.transaction() as session:
        await repository.add_pending(session, order_id="o1", kind="release",
                                     payload=released("o1").model_dump(mode="json"))
    async with stage.db.transaction() as session:
        assert await service.apply_stranded(session, stage.settings, emit=service.outbox_emitter(session, stage.outbox),
                                            now=utcnow()) == 1
    assert (await stage.waybill("o1")).status == "in_receptacle"
    async with stage.db.transaction() as session:
        assert await service.apply_stranded(session, stage.settings, emit=service.outbox_emitter(session, stage.outbox),
                                            now=utcnow()) == 0


async def test_a_release_for_a_voided_waybill_is_ignored(staging):
    stage = staging()
    await stage.issue("o1")
    await stage.void("o1")
    await stage.release("o1")
    assert (await stage.waybill("o1")).status == "voided"
    assert await stage.receptacles() == []


async def test_the_waybill_keeps_what_customs_and_routing_need(staging):
    stage = staging()
    waybill = await stage.issue("o1", product="registered_letter", weight="0.250", country="DE")
    assert (waybill.channel, waybill.carrier, waybill.mail_product, waybill.registered) == (
        "mail", "SGPOST", "registered_letter", True)
    assert (waybill.destination_office, waybill.mail_category, waybill.mail_subclass) == ("DEFRAA", "A", "UR")
    assert str(waybill.weight_kg) == "0.250"
    assert waybill.parcel == accepted("o1", product="registered_letter", weight="0.250",
                                      country="DE").parcel.model_dump(mode="json")
