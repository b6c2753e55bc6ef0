"""The gateway worker: queued messages go to the authority, retried with backoff while it is down, none lost,
each attempt kept for the auditor; a refusal sends the declaration back to a broker."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from services.customs.exchange import send_due
from services.customs.gateway import HttpAuthorityAdapter
from services.customs.repository_exchange import ExchangeRepository
from shared.ceb.transport import unwrap
from tests.customs.events import accepted, mail, new_order_id
from tests.customs.test_batches import emitted
from tests.support import record_statements

BY_HAND = {"run_workers": False}
ENDPOINT = "http://authority.test/v1/messages"


class Authority:
    """An authority endpoint that answers as told, and remembers what it was sent."""

    def __init__(self) -> None:
        self.answer: int | Exception = 200
        self.received: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.received.append(body)
        if isinstance(self.answer, Exception):
            raise self.answer
        if self.answer >= 400:
            return httpx.Response(self.answer, json={"code": "message_invalid", "field": "InventoryHead.gcode",
                                                     "detail": "refused by the test authority"})
        return httpx.Response(self.answer, json={"received": True})


@pytest.fixture
def authority():
    return Authority()


@pytest.fixture
def gateway(customs, authority):
    return HttpAuthorityAdapter("http://authority.test", sender_id=customs.config.filer.declarant.dxp_id,
                                transport=httpx.MockTransport(authority))


async def _exchanges(customs, guid):
    async with customs.runtime.db.reader() as session:
        return await ExchangeRepository(session).exchanges_of(guid)


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_messages_wait_while_the_authority_is_down_and_go_out_once_it_is_back(customs, authority, gateway):
    declaration = await customs.file(accepted(new_order_id()))
    authority.answer = httpx.ConnectError("authority down")
    assert await send_due(customs.runtime, customs.config, gateway, endpoint=ENDPOINT) == 2
    messages = await customs.messages(declaration.id)
    assert {(m.state, m.attempts) for m in messages} == {("queued", 1)}
    assert all(m.next_attempt_at > customs.config.now() for m in messages) and "authority down" in messages[0].last_error
    assert await send_due(customs.runtime, customs.config, gateway, endpoint=ENDPOINT) == 0  # backing off: not due yet
    authority.answer = 503
    customs.clock.advance(minutes=10)
    await send_due(customs.runtime, customs.config, gateway, endpoint=ENDPOINT)
    assert {m.attempts for m in await customs.messages(declaration.id)} == {2}
    authority.answer = 200
    customs.clock.advance(minutes=20)
    assert await send_due(customs.runtime, customs.config, gateway, endpoint=ENDPOINT) == 2
    messages = await customs.messages(declaration.id)
    assert {(m.state, m.attempts) for m in messages} == {("sent", 3)}
    # Every attempt is kept, request and answer, and each request carried the message exactly as filed.
    attempts = await _exchanges(customs, messages[1].guid)
    assert [(a.attempt, a.response_status) for a in attempts] == [(1, None), (2, 503), (3, 200)]
    envelope = unwrap(json.loads(attempts[-1].request_body))
    assert envelope.message_id == messages[1].guid and envelope.kind == "CEB621"
    assert envelope.data == messages[1].body.encode()
    assert {unwrap(body).message_id for body in authority.received} == {m.guid for m in messages}


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_a_refused_filing_goes_back_to_a_broker(customs, authority, gateway):
    declaration = await customs.file(mail(new_order_id()))
    authority.answer = 422
    await send_due(customs.runtime, customs.config, gateway, endpoint=ENDPOINT)
    [message] = await customs.messages(declaration.id)
    assert message.state == "refused" and "message_invalid" in message.last_error
    declaration = await customs.reload(declaration.id)
    assert (declaration.status, declaration.needs_broker) == ("authority_rejected", True)
    assert await emitted(customs, declaration.order_id) == ["declaration.filed", "declaration.held"]
    customs.clock.advance(hours=1)
    assert await send_due(customs.runtime, customs.config, gateway, endpoint=ENDPOINT) == 0  # refused for good: not sent again


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_a_lease_that_lapsed_mid_send_sends_again_and_the_guid_keeps_it_one_filing(customs, authority,
                                                                                          gateway):
    declaration = await customs.file(mail(new_order_id()))
    async with customs.runtime.db.transaction() as session:  # a gateway took it, then died before settling
        [taken] = await ExchangeRepository(session).take_due(now=customs.config.now(),
                                                             lease_until=customs.config.now() + timedelta(minutes=1),
                                                             limit=10)
    assert await send_due(customs.runtime, customs.config, gateway, endpoint=ENDPOINT) == 0  # leased: nobody else sends it
    customs.clock.advance(minutes=2)
    assert await send_due(customs.runtime, customs.config, gateway, endpoint=ENDPOINT) == 1
    [message] = await customs.messages(declaration.id)
    assert message.state == "sent" and message.guid == taken.guid


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_a_round_is_leased_and_settled_in_one_statement_each_whatever_its_size(customs, authority, gateway):
    declarations = [await customs.file(accepted(new_order_id())) for _ in range(4)]  # 8 messages
    statements = record_statements(customs.runtime.db.engine)
    assert await send_due(customs.runtime, customs.config, gateway, endpoint=ENDPOINT) == 8
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE MESSAGES")]
    if customs.runtime.db.engine.dialect.name == "postgresql":
        assert len(updates) == 2  # the lease and the settlement, one array statement each
    for declaration in declarations:
        assert {(m.state, m.attempts) for m in await customs.messages(declaration.id)} == {("sent", 1)}
