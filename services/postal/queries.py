"""Read use cases: a parcel with its receptacle, dispatch and events; dispatches with their manifests.

Tenancy: ops see everything; a carrier sees only what was handed to it, and anything else answers 404.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.postal import repository
from services.postal.models import Dispatch, Receptacle
from services.postal.schemas import (
    DispatchOut,
    DispatchPage,
    DispatchSummary,
    ParcelOut,
    ReceptacleOut,
    TrackingEventOut,
)
from services.postal.tracking import acts_for, carrier_codes, normalize_number
from shared.auth import Principal
from shared.errors import InvalidInput, NotFound

HANDED = frozenset({"handing_off", "handed_off"})


def _receptacle_out(receptacle: Receptacle) -> ReceptacleOut:
    return ReceptacleOut(id=receptacle.id, s9_id=receptacle.s9_id, status=receptacle.status, serial=receptacle.serial,
                         item_count=receptacle.item_count, weight_kg=format(receptacle.weight_kg, "f"),
                         opened_at=receptacle.opened_at, closed_at=receptacle.closed_at,
                         close_reason=receptacle.close_reason)


def _summary(dispatch: Dispatch) -> dict:
    return {name: getattr(dispatch, name) for name in DispatchSummary.model_fields}


async def parcel_view(session: AsyncSession, principal: Principal, tracking_number: str) -> ParcelOut:
    """A parcel for ops, or for the carrier it was handed to."""
    number = normalize_number(tracking_number)
    waybill = await repository.get_waybill(session, number)
    if waybill is None or (principal.role == "carrier" and not (
            waybill.handed_off_at is not None and acts_for(carrier_codes(principal.owner), waybill.carrier))):
        raise NotFound(f"No parcel {number}", code="parcel_not_found")
    receptacle = await repository.get_receptacle(session, waybill.receptacle_id) if waybill.receptacle_id else None
    dispatch = await repository.get_dispatch(session, waybill.dispatch_id) if waybill.dispatch_id else None
    events = await repository.tracking_events_of(session, number)
    return ParcelOut(
        tracking_number=waybill.tracking_number, order_id=waybill.order_id,
        merchant_order_no=waybill.merchant_order_no, channel=waybill.channel, carrier=waybill.carrier,
        status=waybill.status, tracking_status=waybill.tracking_status, weight_kg=format(waybill.weight_kg, "f"),
        destination_office=waybill.destination_office, mail_category=waybill.mail_category,
        mail_subclass=waybill.mail_subclass, customs_form=waybill.customs_form,
        declaration_id=waybill.declaration_id, issued_at=waybill.issued_at, released_at=waybill.released_at,
        handed_off_at=waybill.handed_off_at, delivered_at=waybill.delivered_at, voided_at=waybill.voided_at,
        void_reason=waybill.void_reason,
        receptacle=_receptacle_out(receptacle) if receptacle else None,
        dispatch=DispatchSummary(**_summary(dispatch)) if dispatch else None,
        events=[TrackingEventOut(code=e.code, status=e.status, known=e.known, description=e.description,
                                 location=e.location, occurred_at=e.occurred_at, received_at=e.received_at)
                for e in events],
    )


async def dispatch_view(session: AsyncSession, principal: Principal, reference: str) -> DispatchOut:
    """A dispatch (by dsp_ id or S9 identifier) with its receptacles and manifest."""
    dispatch = await repository.find_dispatch(session, reference)
    if dispatch is None or (principal.role == "carrier" and not (
            dispatch.status in HANDED and acts_for(carrier_codes(principal.owner), dispatch.carrier))):
        raise NotFound(f"No dispatch {reference}", code="dispatch_not_found")
    receptacles = await repository.receptacles_of(session, dispatch.id)
    return DispatchOut(**_summary(dispatch), receptacles=[_receptacle_out(r) for r in receptacles],
                       carrier_receipt=dispatch.carrier_receipt, manifest=dispatch.manifest)


def _encode_cursor(dispatch: Dispatch) -> str:
    raw = json.dumps([dispatch.opened_at.isoformat(), dispatch.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        opened_at, last_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(opened_at), str(last_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this API gave out", code="invalid_cursor", field="cursor") from None


async def dispatch_page(session: AsyncSession, *, status: str | None, carrier: str | None, cursor: str | None,
                        limit: int) -> DispatchPage:
    """Dispatches newest first, one page at a time."""
    after = _decode_cursor(cursor) if cursor else None
    rows = await repository.list_dispatches(session, status=status, carrier=carrier, after=after, limit=limit + 1)
    page = rows[:limit]
    return DispatchPage(items=[DispatchSummary(**_summary(d)) for d in page],
                        next_cursor=_encode_cursor(page[-1]) if len(rows) > limit else None)
