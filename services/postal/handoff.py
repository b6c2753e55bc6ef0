"""Handing closed dispatches to their carriers, and what follows: parcel.handed_off for every parcel.

Each attempt is claimed first in its own committed transaction (status handing_off, a lease, attempts + 1), so two
replicas never post the same dispatch at once and a void can tell that the carrier may already hold the manifest.
The POST happens outside any transaction; its outcome is recorded in a second one. A worker that dies after the
POST leaves the lease to expire and the dispatch is posted again under the same Idempotency-Key — harmless, the
carrier dedupes by dispatch — and only then marked handed off, with its events, in one transaction.

An idle handoff worker looks less and less often (up to IDLE_MAX_POLL_S between looks), and a transaction of this
process that closes a dispatch wakes it when it commits: the dispatches closed here (by the tick, or by a consumer
when a receptacle fills the dispatch) go out at once, while another replica's, a retry's and an expired lease's
wait at most IDLE_MAX_POLL_S longer than the handoff_poll_s they waited before.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.postal import repository
from services.postal.adapters import CarrierAdapter, HandoffFailed
from services.postal.consolidation import DISPATCH_CLOSED
from services.postal.service import Outgoing, emit_all
from services.postal.settings import PostalSettings
from shared.contract.events import ParcelHandedOff
from shared.db import Database, utcnow
from shared.outbox import Outbox

log = structlog.get_logger()

# The longest an idle handoff worker waits between looks at the dispatches (see the module docstring).
IDLE_MAX_POLL_S = 2.0
# The wake-up events of the handoff workers running in this process.
_WORKERS: set[asyncio.Event] = set()


def register_worker(wake: asyncio.Event) -> None:
    """Have `wake` set whenever a transaction of this process that closed a dispatch commits."""
    _WORKERS.add(wake)


def unregister_worker(wake: asyncio.Event) -> None:
    _WORKERS.discard(wake)


@sqlalchemy_event.listens_for(Session, "after_commit")
def _wake_workers(session: Session) -> None:
    if session.info.pop(DISPATCH_CLOSED, False):
        for wake in _WORKERS:
            wake.set()


@sqlalchemy_event.listens_for(Session, "after_rollback")
def _forget_closed(session: Session) -> None:
    session.info.pop(DISPATCH_CLOSED, None)


@dataclass(frozen=True, slots=True)
class Claim:
    """A dispatch claimed for one handoff attempt (a snapshot: the rows may change once the claim commits)."""

    dispatch_id: str
    dispatch_identifier: str
    carrier: str
    manifest: dict[str, Any]
    attempt: int


async def claim_dispatches(session: AsyncSession, settings: PostalSettings, *, now: datetime) -> list[Claim]:
    """Claim dispatches due for a handoff attempt under a lease."""
    claims = []
    for dispatch in await repository.claimable_dispatches(session, now=now, limit=settings.handoff_batch_size):
        dispatch.status = "handing_off"
        dispatch.attempts += 1
        dispatch.claimed_until = now + timedelta(seconds=settings.handoff_lease_s)
        claims.append(Claim(dispatch.id, dispatch.dispatch_identifier, dispatch.carrier, dispatch.manifest or {},
                            dispatch.attempts))
    return claims


async def mark_handed_off(session: AsyncSession, claim: Claim, receipt: dict[str, Any], *, outbox: Outbox,
                          now: datetime) -> int:
    """Record the carrier's receipt and emit parcel.handed_off per parcel; returns how many parcels (0 if done)."""
    # Waybills before the dispatch: the lock order a void takes, so the two never deadlock.
    parcels = await repository.lock_parcels_of_dispatch(session, claim.dispatch_id)
    dispatch = await repository.get_dispatch(session, claim.dispatch_id, lock=True)
    if dispatch is None or dispatch.status != "handing_off":
        log.info("dispatch.handoff_already_recorded", dispatch_id=claim.dispatch_id)
        return 0
    dispatch.status = "handed_off"
    dispatch.handed_off_at = now
    dispatch.carrier_receipt = receipt
    dispatch.claimed_until = None
    dispatch.last_error = None
    await repository.hand_off_parcels(session, claim.dispatch_id, now=now)
    labels = await repository.receptacle_labels(session, claim.dispatch_id)
    outgoing = []
    for parcel in parcels:
        outgoing.append(Outgoing(
            ParcelHandedOff(order_id=parcel.order_id, tracking_number=parcel.tracking_number,
                            carrier=dispatch.carrier, receptacle_id=labels.get(parcel.receptacle_id) or "",
                            dispatch_id=dispatch.dispatch_identifier, handed_off_at=now),
            subject=parcel.order_id, correlation_id=parcel.correlation_id,
        ))
        log.info("parcel.handed_off", order_id=parcel.order_id, tracking_number=parcel.tracking_number,
                 carrier=dispatch.carrier, dispatch_id=dispatch.id, correlation_id=parcel.correlation_id)
    await emit_all(session, outbox, outgoing)
    log.info("dispatch.handed_off", dispatch_id=dispatch.id, dispatch_identifier=dispatch.dispatch_identifier,
             carrier=dispatch.carrier, parcels=len(parcels), attempt=claim.attempt)
    return len(parcels)


async def record_failure(session: AsyncSession, settings: PostalSettings, claim: Claim, error: str, *,
                         now: datetime) -> datetime | None:
    """Keep the error and schedule the next attempt with backoff; returns when it will be."""
    dispatch = await repository.get_dispatch(session, claim.dispatch_id, lock=True)
    if dispatch is None or dispatch.status != "handing_off":
        return None
    backoff = settings.handoff_backoff_s
    delay = backoff[min(claim.attempt - 1, len(backoff) - 1)]
    dispatch.last_error = error[:2000]
    dispatch.next_attempt_at = now + timedelta(seconds=delay)
    dispatch.claimed_until = None
    log.warning("dispatch.handoff_failed", dispatch_id=dispatch.id, carrier=dispatch.carrier, attempt=claim.attempt,
                retry_in_s=delay, error=error[:500])
    return dispatch.next_attempt_at


async def hand_off_due(db: Database, settings: PostalSettings, adapter: CarrierAdapter, outbox: Outbox) -> int:
    """One round: claim due dispatches, post each manifest, record each outcome; returns how many were handed off."""
    async with db.transaction() as session:
        claims = await claim_dispatches(session, settings, now=utcnow())
    handed = 0
    for claim in claims:
        log.info("dispatch.handoff_started", dispatch_id=claim.dispatch_id, carrier=claim.carrier,
                 attempt=claim.attempt)
        try:
            receipt = await adapter.hand_off(carrier=claim.carrier, dispatch_id=claim.dispatch_id,
                                             manifest=claim.manifest)
        except HandoffFailed as exc:
            async with db.transaction() as session:
                await record_failure(session, settings, claim, str(exc), now=utcnow())
            continue
        async with db.transaction() as session:
            await mark_handed_off(session, claim, receipt, outbox=outbox, now=utcnow())
        handed += 1
    return handed

