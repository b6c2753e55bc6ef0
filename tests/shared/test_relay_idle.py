"""The relay when idle: it polls less often, and a commit of outbox rows in its own process wakes it at once."""

from __future__ import annotations

import asyncio

import pytest

import shared.outbox as outbox_module
from shared.contract.subjects import stream_name
from shared.outbox import Relay, unsent_count
from tests.shared.kit_service import accepted, make_runtime, metadata
from tests.shared.test_delivery import stream_messages
from tests.support import eventually


@pytest.fixture
async def publisher(database_provider, nats_url):
    url = await database_provider.url_for("kit", metadata)
    runtime = make_runtime(database_url=url, nats_url=nats_url, run_workers=False)
    await runtime.start()
    await runtime.bus.wait_ready()
    yield runtime
    await runtime.stop()


@pytest.fixture
def quiet_at_once(monkeypatch):
    """The relay counts as quiet from its first empty round, and then looks only every minute on its own."""
    monkeypatch.setattr(outbox_module, "IDLE_BACKOFF_AFTER_S", 0.0)
    monkeypatch.setattr(outbox_module, "IDLE_MAX_INTERVAL_S", 60.0)


async def add_event(runtime, order_id: str) -> None:
    async with runtime.db.transaction() as session:
        await runtime.outbox.add(session, accepted(order_id), subject=order_id, correlation_id=f"c-{order_id}")


async def run_relay(runtime):
    relay = Relay(runtime.db, runtime.bus, runtime.tables.outbox, service="kit", idle_interval_s=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    return relay, stop, task


async def test_a_commit_in_this_process_wakes_a_quiet_relay(publisher, nats_url, quiet_at_once):
    relay, stop, task = await run_relay(publisher)
    try:
        await asyncio.sleep(0.3)  # a few empty rounds: quiet, next look in a minute
        await add_event(publisher, "o1")
        await eventually(lambda: _unsent_is(publisher, 0), timeout=5.0)  # long before the minute
        await add_event(publisher, "o2")
        await add_event(publisher, "o3")
        await eventually(lambda: _unsent_is(publisher, 0), timeout=5.0)
        assert await stream_messages(nats_url, stream_name("orders")) == 3
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5.0)
    assert relay not in outbox_module._RELAYS.get(publisher.tables.outbox, set())


async def test_a_rolled_back_transaction_wakes_nothing_and_publishes_nothing(publisher, nats_url, quiet_at_once):
    _relay, stop, task = await run_relay(publisher)
    try:
        await asyncio.sleep(0.3)
        with pytest.raises(RuntimeError):
            async with publisher.db.transaction() as session:
                await publisher.outbox.add(session, accepted("gone"), subject="gone", correlation_id="c")
                raise RuntimeError("the state change failed")
        # The session's mark went with the rollback: a later commit without outbox rows wakes nobody either.
        async with publisher.db.transaction() as session:
            assert not session.info.get(outbox_module._WRITTEN)
        await add_event(publisher, "kept")
        await eventually(lambda: _unsent_is(publisher, 0), timeout=5.0)
        assert await stream_messages(nats_url, stream_name("orders")) == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5.0)


async def test_rows_of_another_process_are_found_by_the_slower_idle_poll(publisher, nats_url, monkeypatch):
    """Rows the relay's process did not commit (here: written behind the kit's back) still go out, by polling."""
    monkeypatch.setattr(outbox_module, "IDLE_BACKOFF_AFTER_S", 0.0)
    monkeypatch.setattr(outbox_module, "IDLE_MAX_INTERVAL_S", 0.3)
    relay, stop, task = await run_relay(publisher)
    try:
        await asyncio.sleep(0.3)
        async with publisher.db.transaction() as session:
            await publisher.outbox.add(session, accepted("elsewhere"), subject="elsewhere", correlation_id="c")
            session.info.pop(outbox_module._WRITTEN)  # as if another process had committed it
        await eventually(lambda: _unsent_is(publisher, 0), timeout=5.0)
        assert await stream_messages(nats_url, stream_name("orders")) == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5.0)


async def _unsent_is(runtime, expected: int) -> bool:
    return await unsent_count(runtime.db, runtime.tables.outbox) == expected
