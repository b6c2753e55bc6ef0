"""A running customs service per test (real nats-server, SQLite or PostgreSQL) and helpers to drive it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.customs.app import create_app
from services.customs.filing import file_declaration, receive_payment, receive_waybill
from services.customs.models import Declaration, metadata
from services.customs.repository import DeclarationRepository
from services.customs.service import CustomsConfig, outbox_emitter
from services.customs.settings import CustomsSettings
from shared.contract.envelope import Envelope
from shared.contract.events import Event, OrderAccepted, PaymentRecorded, WaybillIssued
from shared.contract.subjects import stream_name
from tests.support import create_api_key, eventually, running_service


class OffsetClock:
    """Real time plus an offset the test can move forward (claims expire, deadlines pass) without sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@dataclass
class Customs:
    """The running service and the ways a test talks to it."""

    app: Any
    client: Any
    clock: OffsetClock
    _seen: dict[int, Envelope] = field(default_factory=dict)

    @property
    def runtime(self):
        return self.app.state.runtime

    @property
    def config(self) -> CustomsConfig:
        return self.runtime.extras["customs"]

    # ── through the broker, as the other services would ──

    async def publish(self, event: Event, *, subject: str, correlation_id: str | None = None) -> Envelope:
        envelope = Envelope.wrap(event, subject=subject, correlation_id=correlation_id or f"corr-{subject}")
        await self.runtime.bus.js.publish(envelope.type, envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.id})
        return envelope

    async def republish(self, envelope: Envelope) -> None:
        """The same envelope again, past the broker's duplicate window (another message id)."""
        await self.runtime.bus.js.publish(envelope.type, envelope.to_bytes(),
                                          headers={"Nats-Msg-Id": f"again-{uuid.uuid4().hex}"})

    async def published(self, order_id: str | None = None, name: str | None = None) -> list[Envelope]:
        """What customs published to its stream (SILKGATE_CUSTOMS), optionally for one order / of one kind."""
        js = self.runtime.bus.js
        state = (await js.stream_info(stream_name("customs"))).state
        for seq in range(max(state.first_seq, 1), state.last_seq + 1):
            if seq not in self._seen:
                self._seen[seq] = Envelope.from_bytes((await js.get_msg(stream_name("customs"), seq)).data)
        envelopes = [self._seen[s] for s in sorted(self._seen)]
        return [e for e in envelopes
                if (order_id is None or e.subject == order_id) and (name is None or e.type.split(".")[2:4] ==
                                                                       name.split("."))]

    async def wait_published(self, order_id: str, name: str, count: int = 1) -> list[Envelope]:
        async def check():
            found = await self.published(order_id, name)
            return found if len(found) >= count else None

        return await eventually(check)

    async def declaration(self, order_id: str) -> Declaration | None:
        async with self.runtime.db.reader() as session:
            return await DeclarationRepository(session).get_by_order(order_id)

    async def wait_declaration(self, order_id: str, status: str | None = None) -> Declaration:
        async def check():
            d = await self.declaration(order_id)
            return d if d is not None and (status is None or d.status == status) else None

        return await eventually(check)

    async def documents(self, order_id: str) -> list:
        async with self.runtime.db.reader() as session:
            return await DeclarationRepository(session).documents(order_id)

    # ── straight into the use cases, for API tests that need declarations in a given state ──

    async def file(self, event: OrderAccepted) -> Declaration:
        async with self.runtime.db.transaction() as session:
            return await file_declaration(DeclarationRepository(session), self.config, event,
                                          correlation_id=f"corr-{event.order_id}", event_id=None,
                                          emit=outbox_emitter(self.runtime.outbox, session))

    async def attach(self, event: PaymentRecorded | WaybillIssued) -> None:
        async with self.runtime.db.transaction() as session:
            receive = receive_payment if isinstance(event, PaymentRecorded) else receive_waybill
            await receive(DeclarationRepository(session), self.config, event, event_id=None,
                          emit=outbox_emitter(self.runtime.outbox, session))

    async def key(self, role: str = "broker", owner: str = "Kashgar Brokerage") -> dict[str, str]:
        key = await create_api_key(self.app, role=role, owner=owner, name=f"{owner} key")
        return {"Authorization": f"Bearer {key}"}


def customs_settings(url: str, nats_url: str, **overrides: Any) -> CustomsSettings:
    values: dict[str, Any] = dict(
        database_url=url, nats_url=nats_url, migrate_on_start=False, consumer_fetch_timeout_s=0.2,
        relay_idle_interval_s=0.02, random_inspection_rate=0, deadline_check_interval_s=0.1,
        consumer_backoff_s=[0.1, 0.2, 0.5], log_level="WARNING",
    )
    values.update(overrides)
    return CustomsSettings(**values)


@pytest.fixture
def customs_overrides() -> dict[str, Any]:
    """Override in a test module (or parametrize) to start the service with other settings."""
    return {}


@pytest.fixture
async def customs(database_provider, nats_url, customs_overrides) -> AsyncIterator[Customs]:
    url = await database_provider.url_for("customs", metadata)
    settings = customs_settings(url, nats_url, **customs_overrides)
    async with running_service(create_app, settings) as (app, client):
        clock = OffsetClock()
        app.state.runtime.extras["customs"].clock = clock
        await app.state.runtime.bus.wait_ready()
        yield Customs(app, client, clock)
