"""A running customs service per test (real nats-server, SQLite or PostgreSQL) and helpers to drive it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.customs.app import create_app
from services.customs.intake import open_declaration, receive_payment, receive_waybill
from services.customs.models import Declaration, Message, metadata
from services.customs.repository import DeclarationRepository
from services.customs.repository_exchange import ExchangeRepository
from services.customs.service import CustomsConfig, outbox_emitter
from services.customs.settings import CustomsSettings
from shared.ceb.fields import new_guid
from shared.ceb.receipts import RECEIPT_OF, Receipt, build_receipt, build_receipts
from shared.ceb.signing import SigningIdentity, sign_xml
from shared.contract.envelope import Envelope
from shared.contract.events import Event, OrderAccepted, PaymentRecorded, WaybillIssued
from shared.contract.subjects import stream_name
from tests.conftest import Certificates
from tests.customs.events import paid, waybill_for
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
    certificates: Certificates
    _seen: dict[int, Envelope] = field(default_factory=dict)
    _authority_headers: dict[str, str] | None = None

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

    async def file(self, event: OrderAccepted, *, documents: bool = True) -> Declaration:
        """Open the order's declaration as the consumer would, then (unless told not to) give it its other
        documents: postal's waybill, and for e-commerce the payment company's payment. Filed when clean."""
        async with self.runtime.db.transaction() as session:
            declaration = await open_declaration(DeclarationRepository(session), self.config, event,
                                                 correlation_id=f"corr-{event.order_id}", event_id=None,
                                                 emit=outbox_emitter(self.runtime.outbox, session))
        if not documents:
            return declaration
        if event.parcel.channel == "ecommerce":
            await self.attach(paid(event.order_id, amount=event.parcel.amount_paid, currency=event.parcel.currency))
        await self.attach(waybill_for(event))
        return await self.reload(declaration.id)

    async def attach(self, event: PaymentRecorded | WaybillIssued) -> None:
        async with self.runtime.db.transaction() as session:
            receive = receive_payment if isinstance(event, PaymentRecorded) else receive_waybill
            await receive(DeclarationRepository(session), self.config, event, event_id=None,
                          emit=outbox_emitter(self.runtime.outbox, session))

    async def messages(self, declaration_id: str) -> list[Message]:
        async with self.runtime.db.reader() as session:
            return await ExchangeRepository(session).messages_of(declaration_id)

    async def reload(self, declaration_id: str) -> Declaration:
        async with self.runtime.db.reader() as session:
            return await DeclarationRepository(session).get(declaration_id)

    # ── the customs authority's side: signed receipts through POST /v1/receipts ──

    def receipt_xml(self, message: Message, status: int, *, at: datetime | None = None, info: str = "",
                    identity: SigningIdentity | None = None, **fields: Any) -> bytes:
        """A signed receipt answering `message` (CEB622 for a CEB621 …), as the authority would send it."""
        return sign_xml(build_receipt(self.receipt(message, status, at=at, info=info, **fields)),
                        identity or self.certificates.authority_identity)

    def receipts_document(self, answers: list[tuple[Any, int]], *, at: datetime | None = None) -> bytes:
        """One signed document with a record answering each (message, status), as the authority signs several
        receipts of one type together."""
        return sign_xml(build_receipts([self.receipt(message, status, at=at) for message, status in answers]),
                        self.certificates.authority_identity)

    def receipt(self, message: Message, status: int, *, at: datetime | None = None, info: str = "",
                **fields: Any) -> Receipt:
        return Receipt(
            message_type=RECEIPT_OF[message.message_type], receipt_guid=new_guid(), guid=message.guid,
            return_status=status, return_time=at or self.config.now(), return_info=info or f"status {status}",
            cop_no=message.declaration_id, order_no=fields.pop("order_no", "SO-1"),
            # The authority numbers an inventory list it accepts (cancellations and returns name the numbers).
            pre_no=fields.pop("pre_no", "P460020260000001" if status == 120 and message.message_type in
                              ("CEB621", "CEB603") else None),
            invt_no=fields.pop("invt_no", "46002026I000000001" if status == 120 and message.message_type in
                               ("CEB621", "CEB603") else None),
            answered_type=message.message_type if RECEIPT_OF[message.message_type] == "CUSRSP" else None,
            customs_code="4600", ebp_code="6501960002", ebc_code="M-KASHGAR", agent_code="6501960001", **fields,
        )

    async def send_receipt(self, body: bytes, *, headers: dict[str, str] | None = None):
        if self._authority_headers is None:
            self._authority_headers = await self.key("authority", "customs-authority")
        return await self.client.post("/v1/receipts", content=body,
                                      headers={"Content-Type": "application/xml",
                                               **(headers or self._authority_headers)})

    async def answer(self, declaration: Declaration, *statuses: int, purpose: str = "declaration",
                     at: datetime | None = None) -> Declaration:
        """The authority answers the declaration's message of `purpose` with each status in turn (each a millisecond
        after the last); returns the declaration as it then stands."""
        message = next(m for m in reversed(await self.messages(declaration.id)) if m.purpose == purpose)
        start = at or self.config.now()
        for offset, status in enumerate(statuses):
            response = await self.send_receipt(self.receipt_xml(message, status,
                                                                at=start + timedelta(milliseconds=offset)))
            assert response.status_code == 200, response.text
        return await self.reload(declaration.id)

    async def key(self, role: str = "broker", owner: str = "Kashgar Brokerage") -> dict[str, str]:
        key = await create_api_key(self.app, role=role, owner=owner, name=f"{owner} key")
        return {"Authorization": f"Bearer {key}"}


def customs_settings(url: str, nats_url: str, certificates: Certificates, **overrides: Any) -> CustomsSettings:
    values: dict[str, Any] = dict(
        database_url=url, nats_url=nats_url, migrate_on_start=False, consumer_fetch_timeout_s=0.2,
        relay_idle_interval_s=0.02, random_inspection_rate=0, deadline_check_interval_s=0.1,
        consumer_backoff_s=[0.1, 0.2, 0.5], log_level="WARNING",
        signing_key_file=certificates.customs.key_file, signing_cert_file=certificates.customs.cert_file,
        authority_cert_file=certificates.authority.cert_file,
    )
    values.update(overrides)
    return CustomsSettings(**values)


@pytest.fixture
def customs_overrides() -> dict[str, Any]:
    """Override in a test module (or parametrize) to start the service with other settings."""
    return {}


@pytest.fixture
async def customs(database_provider, nats_url, customs_overrides, certificates) -> AsyncIterator[Customs]:
    url = await database_provider.url_for("customs", metadata)
    settings = customs_settings(url, nats_url, certificates, **customs_overrides)
    async with running_service(create_app, settings) as (app, client):
        clock = OffsetClock()
        app.state.runtime.extras["customs"].clock = clock
        await app.state.runtime.bus.wait_ready()
        yield Customs(app, client, clock, certificates)
