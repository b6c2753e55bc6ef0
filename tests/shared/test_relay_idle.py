"""The relay when idle: it polls less often, and a commit of outbox rows in its own process wakes it at once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import MetaData

import shared.outbox as outbox_module
from shared.contract.subjects import stream_name
from shared.outbox import Relay, outbox_table, unsent_count
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


TABLE = outbox_table(MetaData())


class FakeJetStream:
    """Records how each publish was asked to wait for nats-py's in-flight semaphore; acks all but `fail_from`."""

    def __init__(self, *, free_slots: int, fail_from: int | None = None) -> None:
        self._publish_async_pending_semaphore = asyncio.Semaphore(free_slots)
        self.stalls: list[float | None] = []
        self.subjects: list[str] = []
        self.fail_from = fail_from

    async def publish_async(self, subject, payload, *, headers, wait_stall):
        self.stalls.append(wait_stall)
        self.subjects.append(headers["Nats-Msg-Id"])
        future = asyncio.get_running_loop().create_future()
        if self.fail_from is not None and len(self.subjects) > self.fail_from:
            future.set_exception(RuntimeError("no stream"))
        else:
            future.set_result(None)
        return future


class FakeBus:
    def __init__(self, js) -> None:
        self.js = js


class Row:
    def __init__(self, n: int) -> None:
        self.id, self.event_id, self.subject, self.payload, self.trace_context = n, f"e{n}", "s", "{}", None


async def test_publishes_wait_for_the_in_flight_limit_with_the_timeout_only_when_it_is_full():
    free = FakeJetStream(free_slots=10)
    relay = Relay(None, FakeBus(free), TABLE, service="kit", publish_timeout_s=7.0)
    assert await relay._publish([Row(n) for n in range(3)]) == [0, 1, 2]
    assert free.stalls == [None, None, None]  # nothing to wait for: buffered without a trip through the loop

    full = FakeJetStream(free_slots=0)
    relay = Relay(None, FakeBus(full), TABLE, service="kit", publish_timeout_s=7.0)
    assert await relay._publish([Row(0)]) == [0]
    assert full.stalls == [7.0]  # a full semaphore is waited on, bounded


async def test_a_failed_publish_keeps_it_and_the_rows_after_it_unsent():
    js = FakeJetStream(free_slots=10, fail_from=2)
    relay = Relay(None, FakeBus(js), TABLE, service="kit")
    assert await relay._publish([Row(n) for n in range(5)]) == [0, 1]
