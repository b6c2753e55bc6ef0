"""Released parcels into receptacles, closed receptacles into dispatches, closed dispatches into manifests.

A receptacle gets its dispatch and serials when it closes, because its S9 id carries them; the highest-receptacle
flag is only known when the dispatch closes, so closing a dispatch relabels its last receptacle. A parcel voided
before its dispatch's first handoff attempt is taken out: its receptacle is reweighed and relabelled, and a closed
dispatch's manifest is rebuilt so the carrier is never told about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from uuid import uuid4

import structlog
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.postal import repository
from services.postal.domain import consolidation as rules
from services.postal.domain import s9
from services.postal.domain.manifest import (
    CUSTOMS_FORMS,
    ManifestItem,
    ManifestLine,
    ManifestParty,
    ManifestReceptacle,
    build_manifest,
)
from services.postal.models import Dispatch, Receptacle, Waybill
from services.postal.settings import PostalSettings
from shared.contract.parcel import Parcel

log = structlog.get_logger()

# When customs names a form the manifest does not know, the channel's usual form stands in (and it is logged).
FALLBACK_FORMS = {"mail": "CN23", "express": "express_D", "ecommerce": "inventory_list"}
# Dispatch states in which the carrier may already hold the manifest: nothing can be taken out any more.
HANDOFF_STARTED = frozenset({"handing_off", "handed_off"})
_OPEN_RECEPTACLES = "postal.open_receptacles"
# Set on a session whose transaction closed a dispatch: its commit wakes this process's handoff workers (handoff.py).
DISPATCH_CLOSED = "postal.dispatch_closed"


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid4().hex[:24]}"


class Routed(Protocol):
    """What bagging needs of a parcel: a waybill, or the row repository.release_waybill() returns."""

    tracking_number: str
    order_id: str
    carrier: str
    channel: str
    destination_office: str
    mail_category: str
    mail_subclass: str
    weight_kg: Decimal
    registered: bool


@dataclass(frozen=True, slots=True)
class Route:
    """What a receptacle groups by: carrier, channel, offices of exchange, mail category and subclass."""

    carrier: str
    channel: str
    origin: str
    destination: str
    category: str
    subclass: str

    @classmethod
    def of(cls, parcel: Routed, settings: PostalSettings) -> Route:
        return cls(parcel.carrier, parcel.channel, settings.origin_office, parcel.destination_office,
                   parcel.mail_category, parcel.mail_subclass)


async def place_in_receptacle(session: AsyncSession, settings: PostalSettings, parcel: Routed, *, now: datetime,
                              release: repository.Release | None = None) -> Receptacle:
    """Put a released parcel into the open receptacle of its route, closing it first when the parcel won't fit;
    `release`: customs' release, not recorded yet, written with the bagging."""
    policy = settings.policy
    route = Route.of(parcel, settings)
    receptacle = await _open_receptacle(session, route)
    if receptacle is not None and not rules.fits(receptacle_weight_kg=receptacle.weight_kg,
                                                 item_weight_kg=parcel.weight_kg, policy=policy):
        await close_receptacle(session, settings, receptacle, reason="weight", now=now)
        receptacle = None
    if receptacle is None:
        receptacle = await _new_receptacle(session, route, now=now)
    receptacle.weight_kg = Decimal(receptacle.weight_kg) + Decimal(parcel.weight_kg)
    receptacle.item_count += 1
    receptacle.registered = receptacle.registered or parcel.registered
    await repository.bag_waybill(session, parcel.tracking_number, receptacle.id, release=release)
    log.info("parcel.bagged", tracking_number=parcel.tracking_number, order_id=parcel.order_id,
             receptacle_id=receptacle.id, item_count=receptacle.item_count, weight_kg=str(receptacle.weight_kg))
    reason = rules.receptacle_close_reason(weight_kg=receptacle.weight_kg, item_count=receptacle.item_count,
                                           opened_at=receptacle.opened_at, now=now, policy=policy)
    if reason is not None:
        await close_receptacle(session, settings, receptacle, reason=reason, now=now)
    return receptacle


async def _open_receptacle(session: AsyncSession, route: Route) -> Receptacle | None:
    """The route's open receptacle, locked. A batch bags many parcels in one transaction: the receptacle is read
    once and kept (we hold its lock, so nobody else changes it), and its new weight and count are written once,
    when the session flushes, instead of once per parcel."""
    held = repository.held_in_transaction(session, _OPEN_RECEPTACLES)
    receptacle = held.get(route) if held is not None else None
    if receptacle is None or receptacle.status != "open":
        receptacle = await repository.open_receptacle(
            session, carrier=route.carrier, channel=route.channel, origin=route.origin,
            destination=route.destination, category=route.category, subclass=route.subclass,
        )
        if held is not None and receptacle is not None:
            held[route] = receptacle
    return receptacle


async def _new_receptacle(session: AsyncSession, route: Route, *, now: datetime) -> Receptacle:
    receptacle = Receptacle(
        id=new_id("rcp"), carrier=route.carrier, channel=route.channel, origin_office=route.origin,
        destination_office=route.destination, mail_category=route.category, mail_subclass=route.subclass,
        status="open", registered=False, weight_kg=Decimal(0), item_count=0, opened_at=now,
    )
    await repository.add_receptacle(session, receptacle)
    held = repository.held_in_transaction(session, _OPEN_RECEPTACLES)
    if held is not None:
        held[route] = receptacle
    log.info("receptacle.opened", receptacle_id=receptacle.id, carrier=route.carrier,
             destination_office=route.destination, mail_subclass=route.subclass)
    return receptacle


async def _dispatch_for(session: AsyncSession, receptacle: Receptacle, *, now: datetime) -> Dispatch:
    """The open dispatch the receptacle joins, opened with the route's next S9 dispatch serial if there is none."""
    key = {"carrier": receptacle.carrier, "origin": receptacle.origin_office,
           "destination": receptacle.destination_office, "category": receptacle.mail_category,
           "subclass": receptacle.mail_subclass, "year": now.year}
    dispatch = await repository.open_dispatch(session, **key)
    if dispatch is not None:
        return dispatch
    # Serials run per origin/destination/category/subclass/year, whichever carrier, so S9 dispatch ids stay unique.
    route = f"{key['origin']}{key['destination']}{key['category']}{key['subclass']}"
    serial = await repository.allocate(session, f"dispatch:{route}:{now.year}")
    identifier = s9.dispatch_id(origin=key["origin"], destination=key["destination"], category=key["category"],
                                subclass=key["subclass"], year=now.year, serial=serial)
    dispatch = Dispatch(
        id=new_id("dsp"), dispatch_identifier=identifier, carrier=key["carrier"], origin_office=key["origin"],
        destination_office=key["destination"], mail_category=key["category"], mail_subclass=key["subclass"],
        year=now.year, serial=serial, status="open", receptacle_count=0, opened_at=now, attempts=0,
    )
    await repository.add_dispatch(session, dispatch)
    log.info("dispatch.opened", dispatch_id=dispatch.id, dispatch_identifier=identifier, carrier=dispatch.carrier)
    return dispatch


def _label(dispatch: Dispatch, receptacle: Receptacle, *, is_last: bool) -> str:
    """The receptacle's S9 id as it stands (weight rounded up to 0.1 kg)."""
    assert receptacle.serial is not None
    return s9.build_receptacle_id(
        origin=dispatch.origin_office, destination=dispatch.destination_office, category=dispatch.mail_category,
        subclass=dispatch.mail_subclass, year=dispatch.year, dispatch_serial=dispatch.serial,
        receptacle_serial=receptacle.serial, is_last=is_last, registered=receptacle.registered,
        weight_kg=receptacle.weight_kg,
    )


async def close_receptacle(session: AsyncSession, settings: PostalSettings, receptacle: Receptacle, *,
                           reason: str, now: datetime) -> Dispatch:
    """Close a receptacle into its route's open dispatch and give it its S9 id; a full dispatch closes too."""
    dispatch = await _dispatch_for(session, receptacle, now=now)
    dispatch.receptacle_count += 1
    receptacle.serial = dispatch.receptacle_count
    receptacle.dispatch_id = dispatch.id
    receptacle.status = "closed"
    receptacle.closed_at = now
    receptacle.close_reason = reason
    receptacle.s9_id = _label(dispatch, receptacle, is_last=False)
    await session.flush()
    await repository.set_dispatch_of_receptacle(session, receptacle.id, dispatch.id)
    log.info("receptacle.closed", receptacle_id=receptacle.id, s9_id=receptacle.s9_id, reason=reason,
             item_count=receptacle.item_count, weight_kg=str(receptacle.weight_kg), dispatch_id=dispatch.id)
    dispatch_reason = rules.dispatch_close_reason(receptacle_count=dispatch.receptacle_count,
                                                  opened_at=dispatch.opened_at, now=now, policy=settings.policy)
    if dispatch_reason == "count":
        await close_dispatch(session, dispatch, reason="count", now=now)
    return dispatch


async def close_dispatch(session: AsyncSession, dispatch: Dispatch, *, reason: str, now: datetime) -> None:
    """Close a dispatch: flag its last receptacle, build its manifest and make it ready for handoff."""
    dispatch.closed_at = now
    dispatch.close_reason = reason
    await _finalise(session, dispatch, now=now)
    log.info("dispatch.closed", dispatch_id=dispatch.id, dispatch_identifier=dispatch.dispatch_identifier,
             reason=reason, status=dispatch.status, receptacle_count=dispatch.receptacle_count)


async def _finalise(session: AsyncSession, dispatch: Dispatch, *, now: datetime) -> None:
    """(Re)label the dispatch's receptacles and (re)build its manifest; a dispatch left with no parcel is emptied."""
    receptacles = await repository.closed_receptacles_of(session, dispatch.id)
    if not receptacles:
        dispatch.status, dispatch.manifest, dispatch.next_attempt_at = "emptied", None, None
        return
    last = max(receptacle.serial or 0 for receptacle in receptacles)
    for receptacle in receptacles:
        receptacle.s9_id = _label(dispatch, receptacle, is_last=receptacle.serial == last)
    await session.flush()
    by_receptacle: dict[str, list[ManifestItem]] = {}
    for parcel in await repository.parcels_in_receptacles(session, [r.id for r in receptacles]):
        if parcel.status == "in_receptacle":
            by_receptacle.setdefault(parcel.receptacle_id or "", []).append(manifest_item(parcel))
    dispatch.manifest = build_manifest(
        dispatch_id=dispatch.dispatch_identifier,
        carrier=dispatch.carrier,
        receptacles=[ManifestReceptacle(r.s9_id or "", tuple(by_receptacle.get(r.id, ()))) for r in receptacles],
        prepared_at=now,
    )
    dispatch.status = "closed"
    dispatch.next_attempt_at = now
    session.sync_session.info[DISPATCH_CLOSED] = True


def manifest_item(waybill: Waybill | Row[Any]) -> ManifestItem:
    """The ITMATT data of one parcel (a waybill or its row): parties, contents and the customs form of its release."""
    parcel = Parcel.model_validate(waybill.parcel)
    form = waybill.customs_form or ""
    if form not in CUSTOMS_FORMS:
        log.warning("manifest.form_unknown", tracking_number=waybill.tracking_number, form=form)
        form = FALLBACK_FORMS[waybill.channel]
    lines = tuple(
        ManifestLine(description=line.name, quantity=line.quantity, weight_kg=line.net_weight_kg,
                     value=line.total_price, hs_code=line.hs_code, origin_country=line.origin_country)
        for line in parcel.lines
    )
    return ManifestItem(
        tracking_number=waybill.tracking_number, sender=ManifestParty.of(parcel.sender),
        addressee=ManifestParty.of(parcel.consignee), contents_category=parcel.contents_type,
        value=parcel.goods_value, currency=parcel.currency, weight_kg=Decimal(waybill.weight_kg), customs_form=form,
        lines=lines, declaration_id=waybill.declaration_id, trade_mode=parcel.trade_mode,
    )


async def take_out(session: AsyncSession, waybill: Waybill, *, now: datetime) -> str | None:
    """Take a parcel out of its receptacle before handoff; returns why it cannot be (the handoff began), or None."""
    assert waybill.receptacle_id is not None
    receptacle = await repository.get_receptacle(session, waybill.receptacle_id)
    assert receptacle is not None
    dispatch = None
    if receptacle.dispatch_id is not None:
        dispatch = await repository.get_dispatch(session, receptacle.dispatch_id, lock=True)
        assert dispatch is not None
        if dispatch.status in HANDOFF_STARTED:
            return "handoff_started"
    receptacle = await repository.get_receptacle(session, waybill.receptacle_id, lock=True)
    assert receptacle is not None
    if dispatch is None and receptacle.dispatch_id is not None:
        # Closed by a tick between our two reads.
        dispatch = await repository.get_dispatch(session, receptacle.dispatch_id, lock=True)
        assert dispatch is not None
        if dispatch.status in HANDOFF_STARTED:
            return "handoff_started"
    waybill.receptacle_id = None
    waybill.dispatch_id = None
    await session.flush()
    receptacle.item_count -= 1
    receptacle.weight_kg = Decimal(receptacle.weight_kg) - Decimal(waybill.weight_kg)
    remaining = await repository.parcels_in_receptacles(session, [receptacle.id])
    receptacle.registered = any(w.registered for w in remaining if w.status == "in_receptacle")
    if receptacle.item_count <= 0:
        receptacle.status, receptacle.item_count, receptacle.weight_kg = "emptied", 0, Decimal(0)
    elif receptacle.status == "closed" and dispatch is not None:
        was_last = receptacle.s9_id is not None and s9.parse_receptacle_id(receptacle.s9_id).is_last
        receptacle.s9_id = _label(dispatch, receptacle, is_last=was_last)
    log.info("parcel.unbagged", tracking_number=waybill.tracking_number, receptacle_id=receptacle.id,
             item_count=receptacle.item_count, receptacle_status=receptacle.status)
    if dispatch is not None and dispatch.status == "closed":
        await _finalise(session, dispatch, now=now)  # the manifest must not name the parcel any more
    return None


async def consolidate(session: AsyncSession, settings: PostalSettings, *, now: datetime,
                      limit: int = 100) -> tuple[int, int]:
    """One tick: close receptacles and dispatches past their age; returns how many of each closed."""
    policy = settings.policy
    receptacles = await repository.aged_open_receptacles(
        session, opened_before=now - timedelta(seconds=policy.max_receptacle_age_s), limit=limit)
    for receptacle in receptacles:
        await close_receptacle(session, settings, receptacle, reason="age", now=now)
    dispatches = await repository.due_open_dispatches(
        session, opened_before=now - timedelta(seconds=policy.max_dispatch_age_s), limit=limit)
    for dispatch in dispatches:
        if dispatch.status == "open":  # a receptacle closing above may have filled and closed it already
            await close_dispatch(session, dispatch, reason="age", now=now)
    return len(receptacles), len(dispatches)
