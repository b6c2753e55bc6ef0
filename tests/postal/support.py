"""Helpers of the postal tests: a running postal service to talk to, a carrier stand-in, use cases driven directly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from services.postal import repository, service
from services.postal.consolidation import consolidate
from services.postal.models import Dispatch, Receptacle, Waybill, tables
from services.postal.settings import PostalSettings
from shared.contract.envelope import Envelope
from shared.contract.events import Event
from shared.db import Database, utcnow
from shared.outbox import Outbox
from tests.postal.factories import accepted, released
from tests.support import create_api_key, eventually


class Postal:
    """A running postal service and the ways a test talks to it."""

    def __init__(self, app: Any, client: Any) -> None:
        self.app, self.client = app, client
        self.runtime = app.state.runtime
        self.published: set[str] = set()

    async def publish(self, event: Event, *, subject: str | None = None, correlation_id: str | None = None,
                      event_id: str | None = None) -> Envelope:
        """Publish an event of another service to the real nats-server, as its relay would."""
        subject = subject or event.order_id
        envelope = Envelope.wrap(event, subject=subject, correlation_id=correlation_id or f"corr-{subject}",
                                 event_id=event_id)
        await self.runtime.bus.wait_ready()
        await self.runtime.bus.js.publish(envelope.type, envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.id})
        self.published.add(envelope.id)
        return envelope

    async def handled(self) -> bool:
        """Every envelope published so far has been handled (its id is in postal's inbox), and no kept event
        waits for the tick any more (an accept and a release handled at the same moment leave one behind)."""
        table = self.runtime.tables.inbox
        async with self.runtime.db.reader() as session:
            seen = set((await session.execute(select(table.c.event_id))).scalars())
            stranded = await repository.stranded_pending_orders(session, limit=1)
        return self.published <= seen and not stranded

    async def until_handled(self) -> None:
        await eventually(self.handled)

    async def emitted(self, event_type: type[Event] | None = None) -> list[Envelope]:
        """What postal wrote to its outbox, oldest first (optionally of one type)."""
        table = self.runtime.tables.outbox
        async with self.runtime.db.reader() as session:
            rows = (await session.execute(select(table.c.payload).order_by(table.c.id))).all()
        envelopes = [Envelope.model_validate_json(row.payload) for row in rows]
        return [e for e in envelopes if event_type is None or e.type == event_type.event_type()]

    async def waybill(self, order_id: str) -> Waybill | None:
        async with self.runtime.db.reader() as session:
            return (await session.execute(select(Waybill).where(Waybill.order_id == order_id))).scalar_one_or_none()

    async def until_waybill(self, order_id: str) -> Waybill:
        return await eventually(lambda: self.waybill(order_id))

    async def receptacles(self) -> list[Receptacle]:
        async with self.runtime.db.reader() as session:
            return list((await session.execute(select(Receptacle).order_by(Receptacle.opened_at))).scalars())

    async def dispatches(self) -> list[Dispatch]:
        async with self.runtime.db.reader() as session:
            return list((await session.execute(select(Dispatch).order_by(Dispatch.opened_at))).scalars())

    async def key(self, role: str, owner: str) -> dict[str, str]:
        """Authorization headers of a new API key."""
        return {"Authorization": f"Bearer {await create_api_key(self.app, role=role, owner=owner)}"}


class RecordingCarrier:
    """A carrier adapter that takes every manifest (no HTTP)."""

    def __init__(self) -> None:
        self.manifests: list[dict[str, Any]] = []

    async def hand_off(self, *, carrier: str, dispatch_id: str, manifest: dict[str, Any]) -> dict[str, Any]:
        self.manifests.append(manifest)
        return {"receipt_id": f"rcv_{len(self.manifests)}"}

    async def aclose(self) -> None:
        pass


# Every release closes its receptacle and its dispatch at once, so parcels reach the carrier in a tick.
HAND_OFF_AT_ONCE = {"max_receptacle_items": 1, "max_dispatch_receptacles": 1}


async def handed_off(postal: Postal, *orders: tuple[str, str, dict[str, Any]]) -> dict[str, str]:
    """Take (order_id, channel, parcel options) through accept, release and handoff; returns tracking numbers."""
    for order_id, channel, options in orders:
        await postal.publish(accepted(order_id, channel, **options))
        await postal.publish(released(order_id, channel))

    async def all_handed() -> dict[str, str] | None:
        numbers = {}
        for order_id, _channel, _options in orders:
            waybill = await postal.waybill(order_id)
            if waybill is None or waybill.status != "handed_off":
                return None
            numbers[order_id] = waybill.tracking_number
        return numbers

    return await eventually(all_handed)


class Staging:
    """Drive the waybill use cases directly in transactions (no broker): issue, release, void."""

    def __init__(self, db: Database, settings: PostalSettings) -> None:
        self.db, self.settings = db, settings
        self.outbox = Outbox(tables.outbox)

    async def issue(self, order_id: str, channel: str = "mail", *, now: datetime | None = None,
                    **options: Any) -> Waybill:
        async with self.db.transaction() as session:
            await service.issue_waybill(session, self.settings, accepted(order_id, channel, **options),
                                        correlation_id=f"corr-{order_id}",
                                        emit=service.outbox_emitter(session, self.outbox), now=now or utcnow())
        return await self.waybill(order_id)

    async def release(self, order_id: str, channel: str = "mail", *, form: str = "CN23",
                      now: datetime | None = None) -> None:
        async with self.db.transaction() as session:
            await service.release_parcel(session, self.settings, released(order_id, channel, form),
                                         now=now or utcnow())

    async def ship(self, order_id: str, channel: str = "mail", *, now: datetime | None = None,
                   **options: Any) -> Waybill:
        """Issue and release: the parcel goes into a receptacle."""
        waybill = await self.issue(order_id, channel, now=now, **options)
        await self.release(order_id, channel, form={"mail": "CN23", "express": "express_C"}.get(channel,
                                                                                               "inventory_list"),
                           now=now)
        return waybill

    async def void(self, order_id: str, reason: str = "order cancelled", *, now: datetime | None = None) -> None:
        async with self.db.transaction() as session:
            await service.void_waybill(session, order_id=order_id, reason=reason,
                                       emit=service.outbox_emitter(session, self.outbox), now=now or utcnow())

    async def consolidate(self, *, now: datetime) -> tuple[int, int]:
        async with self.db.transaction() as session:
            return await consolidate(session, self.settings, now=now)

    async def waybill(self, order_id: str) -> Waybill:
        async with self.db.reader() as session:
            return (await session.execute(select(Waybill).where(Waybill.order_id == order_id))).scalar_one()

    async def receptacles(self) -> list[Receptacle]:
        async with self.db.reader() as session:
            # Bags opened together: closed ones (by serial) before the open one.
            order = (Receptacle.opened_at, Receptacle.serial.is_(None), Receptacle.serial)
            return list((await session.execute(select(Receptacle).order_by(*order))).scalars())

    async def dispatches(self) -> list[Dispatch]:
        async with self.db.reader() as session:
            return list((await session.execute(select(Dispatch).order_by(Dispatch.opened_at))).scalars())

    async def emitted(self, event_type: type[Event] | None = None) -> list[Envelope]:
        async with self.db.reader() as session:
            rows = (await session.execute(select(tables.outbox.c.payload).order_by(tables.outbox.c.id))).all()
        envelopes = [Envelope.model_validate_json(row.payload) for row in rows]
        return [e for e in envelopes if event_type is None or e.type == event_type.event_type()]
