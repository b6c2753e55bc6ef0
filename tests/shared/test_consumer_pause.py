"""A consumer paused by its service (DurableConsumer.paused) fetches nothing — its events wait on the stream, counted
as pending, where the producer's back-pressure reads them — and takes them all, once each, when it resumes."""

from __future__ import annotations

import asyncio

import pytest

from tests.shared.kit_service import accepted, effect_counts, make_runtime, metadata
from tests.support import eventually


@pytest.fixture
async def paused_runtime(database_provider, nats_url):
    gate = {"paused": True}
    url = await database_provider.url_for("kit", metadata)
    runtime = make_runtime(database_url=url, nats_url=nats_url, pause_consumers={"orders": lambda: gate["paused"]})
    await runtime.start()
    await runtime.bus.wait_ready()
    yield runtime, gate
    await runtime.stop()


async def test_a_paused_consumer_leaves_its_events_pending_and_takes_them_once_when_resumed(paused_runtime):
    runtime, gate = paused_runtime
    [consumer] = runtime.consumers
    await eventually(lambda: consumer._sub is not None)
    async with runtime.db.transaction() as session:
        for n in range(3):
            await runtime.outbox.add(session, accepted(f"paused-{n}"), subject=f"paused-{n}", correlation_id="c")
    await eventually(consumer.pending)  # relayed to the stream: the three wait there, undelivered
    assert await eventually(lambda: _pending_is(consumer, 3))
    await asyncio.sleep(1.0)  # five fetch timeouts' worth: a consumer that fetched would have handled them
    assert await effect_counts(runtime) == {}
    assert await consumer.pending() == 3

    gate["paused"] = False
    await eventually(lambda: _effects_are(runtime, {f"paused-{n}": 1 for n in range(3)}))
    assert await eventually(lambda: _pending_is(consumer, 0))


async def _pending_is(consumer, expected: int) -> bool:
    return await consumer.pending() == expected


async def _effects_are(runtime, expected: dict) -> bool:
    return await effect_counts(runtime) == expected
