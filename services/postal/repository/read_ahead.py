"""Reads ahead for a consumer batch (shared.batch): what the batch's handlers will ask about its parcels, read in
one statement per event type before they run and kept in the batch scope's cache.

Only parcels with exactly one event in the batch (`scope.unique_subjects`) are read ahead: no earlier handler of
the batch can have changed their rows, and no concurrent writer either — consumers take the parcel's advisory
lock first (PostgreSQL; SQLite has one writer), the issue cache is about orders with no waybill (which the tick's
apply_stranded never touches) and the release cache holds its waybills' row locks. A cached answer is taken, not
read: a second use (say a kept release applied during issue) reads live. A parcel that is not cached is read live.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import literal, select, union_all
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.postal.repository.base import pending_events, waybills
from shared.batch import BatchScope, scope_of
from shared.db import bucketed

_ISSUE = "postal.issue"
_RELEASE = "postal.release"
_WAYBILL = "waybill"

# What bagging needs of a released parcel: the columns repository.release_waybill() returns.
_ROUTING = (waybills.c.tracking_number, waybills.c.order_id, waybills.c.carrier, waybills.c.channel,
            waybills.c.destination_office, waybills.c.mail_category, waybills.c.mail_subclass, waybills.c.weight_kg,
            waybills.c.registered)


@dataclass(frozen=True, slots=True)
class IssueState:
    """What issuing a waybill needs to know about its order beforehand."""

    issued: bool  # the order has its waybill already
    kept: bool  # a release or void came first (pending_events)


def _unique(scope: BatchScope, order_ids: Iterable[str]) -> list[str]:
    return sorted({order_id for order_id in order_ids if order_id in scope.unique_subjects})


async def read_ahead_issues(session: AsyncSession, scope: BatchScope, order_ids: Iterable[str]) -> None:
    """For each order with one event in the batch: has it a waybill, are events kept for it (one statement)."""
    ids = _unique(scope, order_ids)
    if not ids:
        return
    query = union_all(
        select(waybills.c.order_id, literal(_WAYBILL)).where(waybills.c.order_id.in_(bucketed(ids))),
        select(pending_events.c.order_id, pending_events.c.kind).where(pending_events.c.order_id.in_(bucketed(ids))),
    )
    found: dict[str, set[str]] = {}
    for order_id, kind in (await session.execute(query)).all():
        found.setdefault(order_id, set()).add(kind)
    for order_id in ids:
        kinds = found.get(order_id, set())
        scope.cache[(_ISSUE, order_id)] = IssueState(issued=_WAYBILL in kinds, kept=bool(kinds - {_WAYBILL}))


def issue_state(session: AsyncSession, order_id: str) -> IssueState | None:
    """The order's state as read ahead for this batch, taken from the cache; None: not read ahead, read live."""
    scope = scope_of(session)
    return scope.cache.pop((_ISSUE, order_id), None) if scope is not None else None


def will_issue(scope: BatchScope, order_id: str) -> bool:
    """True when the order was read ahead with no waybill yet (its handler will number it), without taking it."""
    state = scope.cache.get((_ISSUE, order_id))
    return state is not None and not state.issued


async def lock_issued_for_release(session: AsyncSession, scope: BatchScope, order_ids: Iterable[str]) -> None:
    """Lock the `issued` waybills of the orders with one event in the batch, in tracking-number order like every
    multi-waybill lock (so batches never deadlock on them), and keep their routing columns (one statement)."""
    ids = _unique(scope, order_ids)
    if not ids:
        return
    query = (select(*_ROUTING).where(waybills.c.order_id.in_(bucketed(ids)), waybills.c.status == "issued")
             .order_by(waybills.c.tracking_number).with_for_update())
    for row in (await session.execute(query)).all():
        scope.cache[(_RELEASE, row.order_id)] = row


def issued_for_release(session: AsyncSession, order_id: str) -> Row[Any] | None:
    """The order's waybill read ahead as `issued` and locked for this batch (taken from the cache), or None: no
    waybill, past `issued`, or not read ahead — the caller goes the live way."""
    scope = scope_of(session)
    return scope.cache.pop((_RELEASE, order_id), None) if scope is not None else None
