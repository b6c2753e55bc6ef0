"""The kit finds its way back after a broker hiccup: a connect that fails half-way, a durable that disappears."""

from __future__ import annotations

import asyncio

import nats
import pytest

from shared import consumer as consumer_module
from shared.bus import Bus
from shared.contract.subjects import stream_name
from tests.shared.kit_service import accepted, effect_counts, make_runtime, metadata
from tests.support import eventually


async def test_a_connect_whose_stream_setup_fails_is_retried_until_the_bus_is_ready(nats_url):
    bus = Bus(nats_url)
    real_setup, failures = bus.ensure_streams, []

    async def jetstream_not_answering_yet() -> None:
        # As a nats-server that is still starting: it takes the connection, JetStream times out.
        if len(failures) < 2:
            failures.append("timeout")
            raise nats.errors.TimeoutError
        await real_setup()

    bus.ensure_streams = jetstream_not_answering_yet
    try:
        await asyncio.wait_for(bus.connect(retry=True), timeout=10)
        assert failures == ["timeout", "timeout"] and bus.connected
        await asyncio.wait_for(bus.wait_ready(), timeout=1)
    finally:
        await bus.close()


@pytest.fixture
async def runtime(database_provider, nats_url, monkeypatch):
    monkeypatch.setattr(consumer_module, "CHECK_WHEN_IDLE_S", 0.5)
    url = await database_provider.url_for("kit", metadata)
    runtime = make_runtime(database_url=url, nats_url=nats_url)
    await runtime.start()
    await runtime.bus.wait_ready()
    yield runtime
    await runtime.stop()


async def test_a_consumer_whose_durable_was_deleted_creates_it_again_and_gets_the_events(runtime, nats_url):
    [consumer] = runtime.consumers
    await eventually(lambda: consumer._sub is not None)
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().delete_consumer(stream_name("orders"), consumer.name)
    finally:
        await nc.close()
    async with runtime.db.transaction() as session:
        await runtime.outbox.add(session, accepted("after-delete"), subject="after-delete", correlation_id="c")
    await eventually(lambda: _handled(runtime, "after-delete"), timeout=15)


async def _handled(runtime, order_id: str) -> bool:
    return (await effect_counts(runtime)).get(order_id) == 1
