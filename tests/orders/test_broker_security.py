"""NATS authorization against a real nats-server: each service's user publishes only its own subjects and reads only
through its own consumers; a forged event on an allowed subject is refused and dead-lettered, never applied."""

from __future__ import annotations

import asyncio
import json

import nats
import pytest
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError

from shared.bus import Bus
from shared.contract.envelope import Envelope
from shared.contract.subjects import DEAD_LETTER_STREAM, stream_name
from shared.natsauth import ADMIN_USER, followed_streams, inbox_prefix, server_config, service_permissions
from shared.natsserver import NatsServer
from tests.orders import events
from tests.orders.domain.factories import mail_parcel
from tests.support import eventually


@pytest.fixture(scope="module")
def secured():
    """A nats-server enforcing the service users, with every stream created by the admin (as `up` does)."""
    server = NatsServer(auth=True)
    server.start()

    async def provision() -> None:
        bus = Bus(server.url)
        await bus.connect(retry=False)
        await bus.close()

    asyncio.run(provision())
    yield server
    server.cleanup()


async def connect_as(server: NatsServer, user: str, **options) -> nats.NATS:
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    nc = await nats.connect(server.address, user=user, password=server.credentials.password(user),
                            inbox_prefix=inbox_prefix(user), error_cb=on_error, allow_reconnect=False, **options)
    nc.test_errors = errors  # type: ignore[attr-defined]
    return nc


async def stream_count(server: NatsServer, stream: str) -> int:
    nc = await nats.connect(server.url)
    try:
        return (await nc.jetstream().stream_info(stream)).state.messages
    finally:
        await nc.close()


def test_permissions_follow_the_contract():
    customs = service_permissions("customs")
    publish = customs["publish"]["allow"]
    assert "silkgate.customs.>" in publish and "silkgate.dlq.customs.>" in publish
    assert not any(p.startswith(("silkgate.orders", "silkgate.postal")) for p in publish)
    assert followed_streams("customs") == [stream_name("orders"), stream_name("postal")]
    assert "$JS.API.CONSUMER.MSG.NEXT.SILKGATE_ORDERS.customs" in publish
    assert not any(p.startswith("$JS.API.CONSUMER.MSG.NEXT") and not p.endswith(".customs") for p in publish)
    assert "$JS.API.STREAM.UPDATE.SILKGATE_CUSTOMS" in publish and "$JS.API.STREAM.UPDATE.SILKGATE_ORDERS" not in publish
    assert customs["subscribe"]["allow"] == ["_INBOX_customs.>"]
    config = json.loads(server_config({"customs": "$2b$hash", ADMIN_USER: "$2b$hash2"}))
    users = {u["user"]: u for u in config["authorization"]["users"]}
    assert users["customs"]["permissions"] == customs and users[ADMIN_USER]["permissions"]["publish"]["allow"] == [">"]


async def test_a_client_without_credentials_cannot_even_connect(secured):
    with pytest.raises(NatsError):
        await nats.connect(secured.address, allow_reconnect=False, max_reconnect_attempts=0)
    with pytest.raises(NatsError):
        await nats.connect(secured.address, user="customs", password="guessed", allow_reconnect=False,
                           max_reconnect_attempts=0)


async def test_another_services_user_cannot_publish_a_release(secured):
    """Postal's user (or anyone but customs) publishing declaration.released: the broker refuses, nothing is stored."""
    before = await stream_count(secured, stream_name("customs"))
    nc = await connect_as(secured, "postal")
    try:
        forged = Envelope.wrap(events.released("ord_forged"), subject="ord_forged", correlation_id="c")
        with pytest.raises((NatsError, asyncio.TimeoutError, TimeoutError)):
            await nc.jetstream().publish(forged.type, forged.to_bytes(), timeout=1.0)
        await nc.flush()
        await eventually(lambda: any("permissions violation" in str(e).lower() for e in nc.test_errors), timeout=5)
    finally:
        await nc.close()
    assert await stream_count(secured, stream_name("customs")) == before


async def test_a_service_user_cannot_listen_in_or_read_through_another_services_consumer(secured):
    nc = await connect_as(secured, "customs")
    try:
        for subject in ("silkgate.>", "_INBOX.>", "_INBOX_orders.>"):
            await nc.subscribe(subject)
        await nc.flush()
        await eventually(lambda: sum("subscription" in str(e).lower() for e in nc.test_errors) >= 3, timeout=5)
        js = nc.jetstream()
        with pytest.raises((NatsError, asyncio.TimeoutError, TimeoutError, NotFoundError)):
            await js.consumer_info(stream_name("orders"), "postal", timeout=1.0)
    finally:
        await nc.close()


async def test_a_forged_event_on_an_allowed_subject_is_refused_dead_lettered_and_not_applied(secured, start_orders):
    """Postal's own user publishes on postal's subject, but the envelope lies: a wrong source, or a release dressed as a
    waybill. The orders service (with its own user) refuses both, parks them with the reason, and applies neither;
    the genuine waybill after them is applied."""
    orders = await start_orders(nats_url=secured.address, nats_user="orders",
                                nats_password_file=str(secured.credentials.password_file("orders")))
    await orders.runtime.bus.wait_ready()
    order_id = (await orders.create_order(mail_parcel()))["id"]
    dead_before = await stream_count(secured, DEAD_LETTER_STREAM)

    waybill = events.waybill_issued(order_id)
    wrong_source = Envelope.wrap(waybill, subject=order_id, correlation_id="c").model_copy(
        update={"source": "silkgate/customs"})
    release = Envelope.wrap(events.released(order_id), subject=order_id, correlation_id="c")
    nc = await connect_as(secured, "postal")
    try:
        js = nc.jetstream()
        for envelope in (wrong_source, release):  # a release put on postal's waybill subject
            await js.publish(waybill.event_type(), envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.id + "x"})
        # The same release, on the subject it names, but by postal's user: the broker refuses it outright.
        with pytest.raises((NatsError, asyncio.TimeoutError, TimeoutError)):
            await js.publish(release.type, release.to_bytes(), timeout=1.0)
    finally:
        await nc.close()

    await eventually(lambda: _dead_count(secured, dead_before + 2), timeout=15)
    admin = await nats.connect(secured.url)
    try:
        reasons = []
        for seq in range(dead_before + 1, dead_before + 3):
            message = await admin.jetstream().get_msg(DEAD_LETTER_STREAM, seq)
            reasons.append(message.headers["Silkgate-Reason"])
    finally:
        await admin.close()
    assert any("source silkgate/customs" in r for r in reasons), reasons
    assert any("declaration.released" in r and "arrived on subject" in r for r in reasons), reasons
    order = await orders.get_order(order_id)
    assert order["tracking_number"] is None and order["status"] == "accepted"

    genuine = await connect_as(secured, "postal")
    try:
        envelope = Envelope.wrap(waybill, subject=order_id, correlation_id="c")
        await genuine.jetstream().publish(envelope.type, envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.id})
    finally:
        await genuine.close()
    await eventually(lambda: _tracking_number(orders, order_id), timeout=15)


async def _dead_count(server: NatsServer, expected: int) -> bool:
    return await stream_count(server, DEAD_LETTER_STREAM) >= expected


async def _tracking_number(orders, order_id: str) -> bool:
    return (await orders.get_order(order_id))["tracking_number"] == events.TRACKING_NUMBER
