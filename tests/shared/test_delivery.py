"""Delivery guarantees of the kit, against a real nats-server, on SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio

import nats
import pytest

from shared.contract.subjects import DEAD_LETTER_STREAM, stream_name
from shared.outbox import Relay, unsent_count
from tests.shared.kit_service import Crash, accepted, effect_counts, effects, make_runtime, metadata, record_effect
from tests.support import eventually


@pytest.fixture
async def kit(database_provider, nats_url):
    url = await database_provider.url_for("kit", metadata)
    runtimes = []

    async def start(**overrides):
        runtime = make_runtime(database_url=url, nats_url=nats_url, **overrides)
        await runtime.start()
        await runtime.bus.wait_ready()
        runtimes.append(runtime)
        return runtime

    yield start
    for runtime in runtimes:
        await runtime.stop()


async def stream_messages(nats_url: str, stream: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        return (await nc.jetstream().stream_info(stream)).state.messages
    finally:
        await nc.close()


async def add_events(runtime, *order_ids: str, poison: set[str] = frozenset()) -> None:
    async with runtime.db.transaction() as session:
        for order_id in order_ids:
            mo = f"POISON-{order_id}" if order_id in poison else None
            await runtime.outbox.add(session, accepted(order_id, mo), subject=order_id, correlation_id=f"c-{order_id}")


async def test_event_in_a_rolled_back_transaction_is_never_published(kit, nats_url):
    runtime = await kit(run_workers=False)
    with pytest.raises(RuntimeError):
        async with runtime.db.transaction() as session:
            await runtime.outbox.add(session, accepted("rolled-back"), subject="rolled-back", correlation_id="c")
            raise RuntimeError("the state change failed")
    await add_events(runtime, "committed")
    relay = Relay(runtime.db, runtime.bus, runtime.tables.outbox, service="kit")
    assert await relay.publish_batch() == 1
    assert await relay.publish_batch() == 0
    assert await stream_messages(nats_url, stream_name("orders")) == 1
    assert await unsent_count(runtime.db, runtime.tables.outbox) == 0


async def test_relay_dying_between_publish_and_mark_causes_no_duplicate_effect(kit, nats_url, monkeypatch):
    publisher = await kit(run_workers=False)
    await add_events(publisher, "o1", "o2")
    relay = Relay(publisher.db, publisher.bus, publisher.tables.outbox, service="kit")

    async def die(*_args, **_kwargs):
        raise Crash("relay killed after publishing")

    monkeypatch.setattr(relay, "_mark_sent", die)
    with pytest.raises(Crash):
        await relay.publish_batch()
    assert await unsent_count(publisher.db, publisher.tables.outbox) == 2  # nothing marked: it will publish again
    monkeypatch.undo()
    restarted = Relay(publisher.db, publisher.bus, publisher.tables.outbox, service="kit")
    assert await restarted.publish_batch() == 2
    # The broker's duplicate window dropped the second copies ...
    assert await stream_messages(nats_url, stream_name("orders")) == 2
    # ... and even a copy past that window (another Nats-Msg-Id) is absorbed by the consumer's inbox.
    async with publisher.db.reader() as session:
        payload = (await session.execute(publisher.tables.outbox.select().limit(1))).first().payload
    await publisher.bus.js.publish("silkgate.orders.order.accepted.v1", payload.encode(), headers={"Nats-Msg-Id": "late-copy"})
    consumer = await kit()
    await eventually(lambda: _counts_equal(consumer, {"o1": 1, "o2": 1}))
    await asyncio.sleep(0.5)
    assert await effect_counts(consumer) == {"o1": 1, "o2": 1}


async def _counts_equal(runtime, expected):
    return await effect_counts(runtime) == expected


async def test_consumer_dying_mid_batch_gets_the_batch_again_and_the_effect_happens_once(kit, nats_url):
    ids = [f"o{i}" for i in range(10)]
    publisher = await kit(run_workers=False)
    await add_events(publisher, *ids)
    await Relay(publisher.db, publisher.bus, publisher.tables.outbox, service="kit").publish_batch()

    # First consumer: handles five messages of the batch inside its transaction, then the process dies.
    doomed = await kit(run_workers=False, consumer_ack_wait_s=1.0)
    handled = 0

    async def handle_then_die(ctx):
        nonlocal handled
        handled += 1
        if handled == 6:
            raise Crash("killed mid-batch")
        await record_effect(ctx)

    from shared.consumer import build_consumers

    [consumer] = build_consumers(service="kit", handlers={type(accepted("x")): handle_then_die}, db=doomed.db,
                                 bus=doomed.bus, inbox=doomed.inbox, outbox=doomed.outbox,
                                 settings=doomed.consumer_settings())
    consumer.settings.ack_wait_s = 1.0
    await consumer.subscribe()
    msgs = await consumer._sub.fetch(10, timeout=2)
    assert len(msgs) == 10
    with pytest.raises(Crash):
        await consumer.handle_batch(msgs)
    assert await effect_counts(doomed) == {}  # the batch's transaction never committed

    # A second crash kind: the batch committed, but the process died before acking.
    restarted = await kit(consumer_ack_wait_s=1.0)
    await eventually(lambda: _counts_equal(restarted, {i: 1 for i in ids}), timeout=20)
    await asyncio.sleep(1.5)
    assert await effect_counts(restarted) == {i: 1 for i in ids}


async def test_commit_then_crash_before_ack_is_absorbed_by_the_inbox(kit, nats_url, monkeypatch):
    publisher = await kit(run_workers=False)
    await add_events(publisher, "a1", "a2", "a3")
    await Relay(publisher.db, publisher.bus, publisher.tables.outbox, service="kit").publish_batch()
    runtime = await kit(run_workers=False)
    from shared.consumer import build_consumers

    [consumer] = build_consumers(service="kit", handlers={type(accepted("x")): record_effect}, db=runtime.db,
                                 bus=runtime.bus, inbox=runtime.inbox, outbox=runtime.outbox,
                                 settings=runtime.consumer_settings())
    consumer.settings.ack_wait_s = 1.0
    await consumer.subscribe()
    msgs = await consumer._sub.fetch(3, timeout=2)

    async def crash_on_ack(*_a, **_k):
        raise Crash("killed after commit, before ack")

    for msg in msgs:
        monkeypatch.setattr(msg, "ack", crash_on_ack)
    with pytest.raises(Crash):
        await consumer.handle_batch(msgs)
    assert await effect_counts(runtime) == {"a1": 1, "a2": 1, "a3": 1}
    again = await consumer._sub.fetch(3, timeout=5)  # redelivered after ack_wait
    assert sorted(m.metadata.num_delivered for m in again) == [2, 2, 2]
    await consumer.handle_batch(again)
    assert await effect_counts(runtime) == {"a1": 1, "a2": 1, "a3": 1}


async def test_poison_message_lands_in_dead_letters_after_max_attempts_while_others_pass(kit, nats_url):
    publisher = await kit(run_workers=False)
    await add_events(publisher, "p1", "bad", "p2", "p3", poison={"bad"})
    await Relay(publisher.db, publisher.bus, publisher.tables.outbox, service="kit").publish_batch()
    consumer = await kit(consumer_max_attempts=3, consumer_backoff_s=[0.1, 0.1, 0.1])
    await eventually(lambda: _counts_equal(consumer, {"p1": 1, "p2": 1, "p3": 1}))
    await eventually(lambda: stream_messages(nats_url, DEAD_LETTER_STREAM), timeout=10)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        dead = await js.get_last_msg(DEAD_LETTER_STREAM, "silkgate.dlq.>")
        assert dead.headers["Silkgate-Deliveries"] == "3"
        assert "cannot handle POISON-bad" in dead.headers["Silkgate-Reason"]
        assert dead.headers["Silkgate-Original-Subject"] == "silkgate.orders.order.accepted.v1"
        assert b"POISON-bad" in dead.data
        assert (await js.stream_info(DEAD_LETTER_STREAM)).state.messages == 1
    finally:
        await nc.close()
    assert await effect_counts(consumer) == {"p1": 1, "p2": 1, "p3": 1}


async def test_unreadable_message_is_dead_lettered_at_once(kit, nats_url):
    consumer = await kit()
    await consumer.bus.js.publish("silkgate.orders.order.accepted.v1", b"not json", headers={"Nats-Msg-Id": "junk"})
    await add_events(consumer, "after-junk")
    await eventually(lambda: _counts_equal(consumer, {"after-junk": 1}))
    await eventually(lambda: stream_messages(nats_url, DEAD_LETTER_STREAM))


async def test_events_of_one_parcel_are_handled_one_transaction_at_a_time(database_provider, nats_url):
    """Two consumers handling the same parcel at once: the second waits for the first to commit (PostgreSQL), or
    for the single writer (SQLite) — so neither can miss the other's rows."""
    import time

    from shared.consumer_messages import lock_parcels
    from shared.db import Database

    url = await database_provider.url_for("kit", metadata)
    first_db, second_db = Database(url), Database(url)
    try:
        timeline: list[str] = []

        async def first() -> None:
            async with first_db.transaction() as session:
                await lock_parcels(session, ["ord_1", "ord_2"])
                await session.execute(effects.insert().values(order_id="ord_1"))
                timeline.append("first locked")
                await asyncio.sleep(0.5)
                timeline.append("first commits")

        async def second() -> None:
            await asyncio.sleep(0.1)
            started = time.monotonic()
            async with second_db.transaction() as session:
                await lock_parcels(session, ["ord_2"])
                rows = (await session.execute(effects.select())).all()
                timeline.append("second reads")
            assert len(rows) == 1, "the second transaction sees what the first committed"
            assert time.monotonic() - started >= 0.3

        await asyncio.gather(first(), second())
        assert timeline == ["first locked", "first commits", "second reads"]
    finally:
        await first_db.dispose()
        await second_db.dispose()
