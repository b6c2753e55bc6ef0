"""Receptacles and dispatches: closing by weight, count and age; S9 ids; manifests; parcels taken out by voids."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from services.postal.domain import s9
from shared.db import utcnow

T0 = utcnow()


def later(seconds: float):
    return T0 + timedelta(seconds=seconds)


async def test_a_released_parcel_joins_the_open_receptacle_of_its_route(staging):
    stage = staging()
    await stage.ship("o1", now=T0)
    await stage.ship("o2", now=T0)
    await stage.ship("o3", country="DE", now=T0)
    await stage.ship("o4", "express", now=T0)
    await stage.ship("o5", "ecommerce", now=T0)
    receptacles = await stage.receptacles()
    routes = sorted((r.carrier, r.destination_office, r.mail_subclass, r.item_count) for r in receptacles)
    assert routes == [("SGE", "KZALAA", "CC", 1), ("SGPOST", "DEFRAA", "CN", 1), ("SGPOST", "KZALAA", "CN", 2),
                      ("SGX", "KZALAA", "EM", 1)]
    assert all(r.status == "open" and r.s9_id is None for r in receptacles)
    waybill = await stage.waybill("o1")
    assert (waybill.status, waybill.customs_form, waybill.declaration_id) == ("in_receptacle", "CN23", "dcl_o1")


async def test_the_item_count_closes_a_receptacle_and_gives_it_its_s9_id(staging):
    stage = staging(max_receptacle_items=3)
    for order in ("o1", "o2", "o3"):
        await stage.ship(order, weight="1.25", now=T0)
    [receptacle] = await stage.receptacles()
    assert (receptacle.status, receptacle.close_reason, receptacle.item_count) == ("closed", "count", 3)
    assert len(receptacle.s9_id) == 29
    parsed = s9.parse_receptacle_id(receptacle.s9_id)
    assert (parsed.dispatch.origin, parsed.dispatch.destination, parsed.dispatch.category) == ("CNURCA", "KZALAA", "A")
    assert (parsed.dispatch.subclass, parsed.dispatch.year_digit) == ("CN", T0.year % 10)
    assert (parsed.dispatch.serial, parsed.receptacle_serial, parsed.is_last, parsed.registered) == (1, 1, False, False)
    assert parsed.weight_units == 38  # 3.75 kg rounded up to 0.1 kg
    [dispatch] = await stage.dispatches()
    assert (dispatch.status, dispatch.dispatch_identifier) == ("open", receptacle.s9_id[:20])
    assert (await stage.waybill("o1")).dispatch_id == dispatch.id
    await stage.ship("o4", now=T0)
    assert [r.status for r in await stage.receptacles()] == ["closed", "open"]


async def test_a_parcel_that_would_pass_the_weight_limit_closes_the_bag_first(staging):
    stage = staging()
    for order in ("o1", "o2", "o3"):
        await stage.ship(order, weight="12.000", now=T0)
    first, second = await stage.receptacles()
    assert (first.status, first.close_reason, first.item_count, first.weight_kg) == ("closed", "weight", 2,
                                                                                        Decimal("24.000"))
    assert s9.parse_receptacle_id(first.s9_id).weight_units == 240
    assert (second.status, second.item_count) == ("open", 1)


async def test_reaching_the_weight_limit_closes_at_once_and_an_oversized_parcel_travels_alone(staging):
    stage = staging()
    await stage.ship("o1", weight="10", now=T0)
    await stage.ship("o2", weight="20", now=T0)
    await stage.ship("o3", weight="35", now=T0)
    full, alone = await stage.receptacles()
    assert (full.status, full.close_reason, full.weight_kg) == ("closed", "weight", Decimal("30.000"))
    assert (alone.status, alone.close_reason, alone.item_count) == ("closed", "weight", 1)
    assert s9.parse_receptacle_id(alone.s9_id).weight_units == 350


async def test_the_tick_closes_receptacles_past_their_age(staging):
    stage = staging(max_receptacle_age_s=60)
    await stage.ship("old", now=T0)
    await stage.ship("young", country="DE", now=later(30))
    assert await stage.consolidate(now=later(59)) == (0, 0)
    assert await stage.consolidate(now=later(61)) == (1, 0)
    receptacles = {r.destination_office: r for r in await stage.receptacles()}
    assert (receptacles["KZALAA"].status, receptacles["KZALAA"].close_reason) == ("closed", "age")
    assert receptacles["DEFRAA"].status == "open"


async def test_registered_items_set_the_registered_flag_of_their_bag(staging):
    stage = staging(max_receptacle_items=1)
    await stage.ship("o1", product="registered_letter", weight="0.1", now=T0)
    [receptacle] = await stage.receptacles()
    assert receptacle.mail_subclass == "UR"
    assert s9.parse_receptacle_id(receptacle.s9_id).registered is True


async def test_a_full_dispatch_closes_with_its_manifest_and_flags_its_last_receptacle(staging):
    stage = staging(max_receptacle_items=1, max_dispatch_receptacles=2)
    await stage.ship("o1", weight="2.5", now=T0)
    await stage.ship("o2", weight="1.0", now=T0)
    [dispatch] = await stage.dispatches()
    assert (dispatch.status, dispatch.close_reason, dispatch.receptacle_count) == ("closed", "count", 2)
    assert dispatch.next_attempt_at == T0  # ready for handoff at once
    first, last = await stage.receptacles()
    assert [s9.parse_receptacle_id(r.s9_id).is_last for r in (first, last)] == [False, True]
    manifest = dispatch.manifest
    assert manifest["dispatch"]["dispatch_id"] == dispatch.dispatch_identifier
    assert manifest["dispatch"]["carrier"] == "SGPOST"
    assert (manifest["dispatch"]["receptacle_count"], manifest["dispatch"]["item_count"]) == (2, 2)
    assert [r["receptacle_id"] for r in manifest["receptacles"]] == [first.s9_id, last.s9_id]
    item = manifest["items"][0]
    waybill = await stage.waybill("o1")
    assert item["tracking_number"] == waybill.tracking_number
    assert item["customs"] == {"form": "CN23", "declaration_id": "dcl_o1", "trade_mode": None}
    assert (item["addressee"]["country"], item["weight_kg"], item["value"]) == ("KZ", "2.500", "60.00")
    assert item["lines"][0]["hs_code"] == "0813100000"


async def test_the_tick_closes_dispatches_past_their_age_and_serials_run_per_route(staging):
    stage = staging(max_receptacle_items=1, max_dispatch_age_s=60)
    await stage.ship("o1", now=T0)
    await stage.ship("o2", country="DE", now=T0)
    assert await stage.consolidate(now=later(61)) == (0, 2)
    await stage.ship("o3", now=later(62))
    dispatches = sorted(await stage.dispatches(), key=lambda d: (d.destination_office, d.serial))
    assert [(d.destination_office, d.serial, d.status) for d in dispatches] == [
        ("DEFRAA", 1, "closed"), ("KZALAA", 1, "closed"), ("KZALAA", 2, "open")]
    assert [d.close_reason for d in dispatches[:2]] == ["age", "age"]
    assert all(d.manifest["receptacles"][0]["is_last"] for d in dispatches[:2])


async def test_express_and_ecommerce_items_carry_their_customs_data(staging):
    stage = staging(max_receptacle_items=1, max_dispatch_receptacles=1)
    await stage.ship("x1", "express", now=T0)
    await stage.ship("e1", "ecommerce", now=T0)
    manifests = {d.carrier: d.manifest for d in await stage.dispatches()}
    assert manifests["SGX"]["items"][0]["customs"]["form"] == "express_C"
    assert manifests["SGE"]["items"][0]["customs"] == {"form": "inventory_list", "declaration_id": "dcl_e1",
                                                       "trade_mode": "9610"}


async def test_an_unknown_customs_form_falls_back_to_the_channels_usual_one(staging):
    stage = staging(max_receptacle_items=1, max_dispatch_receptacles=1)
    await stage.issue("o1", now=T0)
    await stage.release("o1", form="CN99", now=T0)
    [dispatch] = await stage.dispatches()
    assert dispatch.manifest["items"][0]["customs"]["form"] == "CN23"


async def test_voiding_takes_a_parcel_out_of_an_open_receptacle(staging):
    stage = staging()
    await stage.ship("o1", weight="2", now=T0)
    await stage.ship("o2", weight="3", now=T0)
    await stage.void("o1")
    [receptacle] = await stage.receptacles()
    assert (receptacle.status, receptacle.item_count, receptacle.weight_kg) == ("open", 1, Decimal("3.000"))
    waybill = await stage.waybill("o1")
    assert (waybill.status, waybill.receptacle_id) == ("voided", None)
    await stage.void("o2")
    [receptacle] = await stage.receptacles()
    assert (receptacle.status, receptacle.item_count) == ("emptied", 0)
    await stage.ship("o3", now=later(1))
    assert [r.status for r in await stage.receptacles()] == ["emptied", "open"]


async def test_voiding_from_a_closed_receptacle_relabels_it_and_rebuilds_the_manifest(staging):
    stage = staging(max_receptacle_items=2, max_dispatch_receptacles=2)
    for order in ("o1", "o2", "o3", "o4"):
        await stage.ship(order, weight="1.5", now=T0)
    [dispatch] = await stage.dispatches()
    assert dispatch.status == "closed" and dispatch.manifest["dispatch"]["item_count"] == 4
    await stage.void("o4")
    [dispatch] = await stage.dispatches()
    first, last = await stage.receptacles()
    assert s9.parse_receptacle_id(last.s9_id).weight_units == 15  # 1.5 kg left, still the last receptacle
    assert s9.parse_receptacle_id(last.s9_id).is_last
    voided = (await stage.waybill("o4")).tracking_number
    assert voided not in [item["tracking_number"] for item in dispatch.manifest["items"]]
    assert dispatch.manifest["dispatch"]["item_count"] == 3
    await stage.void("o3")
    first, last = await stage.receptacles()
    [dispatch] = await stage.dispatches()
    assert last.status == "emptied"
    assert s9.parse_receptacle_id(first.s9_id).is_last  # the highest one left carries the flag now
    assert [r["receptacle_id"] for r in dispatch.manifest["receptacles"]] == [first.s9_id]


async def test_a_dispatch_whose_parcels_are_all_voided_is_emptied_and_never_handed_off(staging):
    stage = staging(max_receptacle_items=1, max_dispatch_receptacles=1)
    await stage.ship("o1", now=T0)
    await stage.void("o1")
    [dispatch] = await stage.dispatches()
    assert (dispatch.status, dispatch.manifest, dispatch.next_attempt_at) == ("emptied", None, None)
