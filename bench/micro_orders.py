"""In-process micro-benchmark of the orders service's hot paths: intake and the consumer of downstream events.

    python -m bench.micro_orders --db sqlite --events 10000
    python -m bench.micro_orders --db postgres --events 10000 --webhooks 1

1. Intake: an API-only orders app (as `silkgate serve orders --role api`) takes events/10 orders through an
   in-process httpx client, half as single POST /v1/orders, half as POST /v1/orders/batch of 50 (bench/run.py's mix).
2. Consumer: a worker-only app (relay, consumers) handles `events` downstream envelopes published beforehand on a real
   nats-server, ten per parcel as customs and postal publish them: waybill.issued, declaration.filed,
   declaration.released, parcel.handed_off, 5 x parcel.tracking, parcel.delivered; stage by stage, so a batch holds
   many parcels (as in the pipeline, where each stage of a parcel arrives in its own batch).

Printed per phase: throughput, CPU ms (user + system time of this process, as time.process_time: the service, the
in-process client and the benchmark's own polling) and SQL statements (the service engine's before_cursor_execute)
per order or per message; for the consumer also the batches it took. Logging is configured as in a service at
--log-level (JSON lines to a file; stdout is silenced while running).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import multiprocessing
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import nats
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import create_async_engine

from bench.meter import Measurement, Meter, StatementCounter, cpu_times
from bench.orders import is_held, order_body
from services.orders.app import create_app
from services.orders.models import Order, metadata
from services.orders.settings import OrdersSettings
from services.orders.webhooks.models import WebhookEndpoint
from shared.auth import generate_key
from shared.contract.envelope import Envelope
from shared.contract.events import (
    DeclarationFiled,
    DeclarationReleased,
    Event,
    ParcelDelivered,
    ParcelHandedOff,
    ParcelTracking,
    WaybillIssued,
)
from shared.contract.parcel import Party
from shared.db import Database, utcnow
from shared.metrics import BATCH_SECONDS
from shared.natsserver import NatsServer

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
MERCHANT = "M001"
BATCH_SIZE = 50
EVENTS_PER_PARCEL = 10
TRACKING_STEPS = (("EMC", "in_transit", "Left outward office of exchange", "Kashgar"),
                  ("EMD", "in_transit", "Arrived at inward office of exchange", "Almaty"),
                  ("EDB", "held_by_customs", "Presented to import customs", "Almaty"),
                  ("EMF", "in_transit", "Left inward office of exchange", "Almaty"),
                  ("EDG", "out_for_delivery", "Out for delivery", "Almaty"))


# ── measuring ─────────────────────────────────────────────────────────────────


# ── the database ──────────────────────────────────────────────────────────────


@contextlib.asynccontextmanager
async def fresh_database(kind: str, workdir: Path):
    """A new SQLite file or PostgreSQL database with the orders tables; dropped afterwards."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'orders.db'}"
        await _create_tables(url)
        yield url
        return
    admin_url = os.environ.get("SILKGATE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    name = f"micro_orders_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"
        await _create_tables(url)
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def _create_tables(url: str) -> None:
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await db.dispose()


# ── the service ───────────────────────────────────────────────────────────────


def settings(url: str, nats_url: str, args: argparse.Namespace, *, api: bool, workers: bool) -> OrdersSettings:
    return OrdersSettings(database_url=url, nats_url=nats_url, migrate_on_start=False, run_api=api, run_workers=workers,
                          log_level=args.log_level, log_file=str(args.workdir / "orders.jsonl"),
                          consumer_fetch_timeout_s=0.2, max_backlog=10_000_000)


@contextlib.asynccontextmanager
async def running(app: Any):
    async with app.router.lifespan_context(app):
        yield app.state.runtime


async def add_merchant_key(runtime: Any) -> str:
    key_id, key = generate_key("merchant")
    async with runtime.db.transaction() as session:
        await runtime.api_keys.insert(session, key_id=key_id, key=key, role="merchant", owner=MERCHANT,
                                      name="bench merchant")
    return key


async def add_webhook_endpoints(runtime: Any, count: int) -> None:
    """Enabled endpoints subscribed to everything (the sender does not run: deliveries stay queued)."""
    now = utcnow()
    async with runtime.db.transaction() as session:
        for n in range(count):
            session.add(WebhookEndpoint(id=f"we_bench{n}", merchant_code=MERCHANT, url=f"https://hooks.example/{n}",
                                        description="bench", event_types=["*"], secret="whsec_bench", enabled=True,
                                        disabled_reason=None, disabled_at=None, failing_since=None, created_at=now,
                                        updated_at=now))


# ── phase 1: intake ───────────────────────────────────────────────────────────


async def run_intake(url: str, nats_url: str, args: argparse.Namespace, parcels: int, run: str,
                     results: list[Measurement]) -> None:
    """Half the orders one by one, half in batches of 50, through the API app."""
    app = create_app(settings(url, nats_url, args, api=True, workers=False))
    async with running(app) as runtime:
        await runtime.bus.wait_ready()
        meter = Meter(StatementCounter(runtime.db.engine), args.profiler if args.phase == "intake" else None)
        key = await add_merchant_key(runtime)
        await add_webhook_endpoints(runtime, args.webhooks)
        singles = parcels // 2
        bodies = [json.dumps(order_body(n, run, held=is_held(n, args.held_share))).encode() for n in range(parcels)]
        batches = [b'{"orders":[' + b",".join(bodies[i:i + BATCH_SIZE]) + b"]}"
                   for i in range(singles, parcels, BATCH_SIZE)]
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:
            async with meter.measure("intake single", singles, "orders", results):
                await _in_parallel(args.concurrency, [
                    _post(client, "/v1/orders", body, f"single-{run}-{n}", 201) for n, body in enumerate(bodies[:singles])
                ])
            async with meter.measure("intake batch of 50", parcels - singles, "orders", results):
                await _in_parallel(args.concurrency, [
                    _post(client, "/v1/orders/batch", body, f"batch-{run}-{n}", 200) for n, body in enumerate(batches)
                ])
            async with meter.measure("intake replay (single)", min(200, singles), "orders", results):
                await _in_parallel(args.concurrency, [
                    _post(client, "/v1/orders", body, f"single-{run}-{n}", 201)
                    for n, body in enumerate(bodies[:min(200, singles)])
                ])
        async with runtime.db.transaction() as session:
            created = (await session.execute(select(func.count()).select_from(Order))).scalar_one()
            # Nobody downstream runs here: mark order.accepted sent so the worker app's relay has nothing to do.
            outbox = runtime.tables.outbox
            await session.execute(update(outbox).where(outbox.c.sent_at.is_(None)).values(sent_at=utcnow()))
        if created != parcels:
            raise SystemExit(f"intake created {created} orders, expected {parcels}")


async def _post(client: httpx.AsyncClient, path: str, body: bytes, key: str, expected: int) -> None:
    response = await client.post(path, content=body, headers={"Idempotency-Key": key}, timeout=120)
    if response.status_code != expected:
        raise SystemExit(f"POST {path} answered {response.status_code}: {response.text[:500]}")


async def _in_parallel(concurrency: int, calls: list[Any]) -> None:
    queue = list(reversed(calls))

    async def worker() -> None:
        while queue:
            await queue.pop()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


# ── phase 2: the consumer ─────────────────────────────────────────────────────


def journey(order_id: str, merchant_order_no: str, channel: str, n: int) -> list[list[Event]]:
    """A parcel's downstream events by stage (the stage's events of every parcel are published together)."""
    start = datetime.now(UTC)
    tracking_number = f"CP{n:09d}CN"

    def at(minutes: float) -> datetime:
        return start + timedelta(minutes=minutes)

    declaration = {"declaration_id": f"dcl_{order_id[-16:]}", "order_id": order_id, "channel": channel}
    consignee = Party(name=f"Buyer {n}", phone="+7 727 1234567", address=f"{n} Abay Ave, Almaty", country="KZ")
    parcel = {"order_id": order_id, "tracking_number": tracking_number}
    return [
        [WaybillIssued(**parcel, merchant_order_no=merchant_order_no, channel=channel, carrier="KZPOST",
                       consignee=consignee, issued_at=at(1)),
         DeclarationFiled(**declaration, status="accepted", ceb_code=120, form="CN23", value_cny=Decimal("128.05"),
                          occurred_at=at(1))],
        [DeclarationReleased(**declaration, status="released", ceb_code=800, form="CN23",
                             value_cny=Decimal("128.05"), tax_cny=Decimal("9.10"), occurred_at=at(3))],
        [ParcelHandedOff(**parcel, carrier="KZPOST", receptacle_id="CNKHGAKZALAAAUN60001001101000150",
                         dispatch_id="CNKHGAKZALAAAUN60001", handed_off_at=at(5))],
        *[[ParcelTracking(**parcel, code=code, status=status, description=description, location=location,
                          occurred_at=at(10 + 10 * step))]
          for step, (code, status, description, location) in enumerate(TRACKING_STEPS)],
        [ParcelDelivered(**parcel, delivered_at=at(70), location="Almaty")],
    ]


async def journey_messages(url: str) -> list[tuple[str, bytes, str]]:
    """Every parcel's events as (subject, payload, message id), stage by stage."""
    db = Database(url)
    async with db.reader() as session:
        rows = (await session.execute(select(Order.id, Order.merchant_order_no, Order.channel, Order.correlation_id)
                                      .order_by(Order.created_at, Order.id))).all()
    await db.dispose()
    journeys = [(row, journey(row.id, row.merchant_order_no, row.channel, n)) for n, row in enumerate(rows)]
    messages = []
    for stage in range(len(journeys[0][1])):
        for row, stages in journeys:
            for item in stages[stage]:
                envelope = Envelope.wrap(item, subject=row.id, correlation_id=row.correlation_id,
                                         causation_id=uuid.uuid4().hex)
                messages.append((envelope.type, envelope.to_bytes(), envelope.id))
    return messages


async def publish(nats_url: str, messages: list[tuple[str, bytes, str]], rate: float = 0.0) -> None:
    """Publish the messages, as fast as the broker takes them or `rate` per second."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream(timeout=30)
    started = time.monotonic()
    try:
        for start in range(0, len(messages), 100):
            if rate:
                await asyncio.sleep(max(0.0, started + start / rate - time.monotonic()))
            acks = [await js.publish_async(subject, payload, headers={"Nats-Msg-Id": msg_id})
                    for subject, payload, msg_id in messages[start:start + 100]]
            await asyncio.gather(*acks)
    finally:
        await nc.close()


def publish_in_a_child(nats_url: str, messages: list[tuple[str, bytes, str]], rate: float) -> multiprocessing.Process:
    """Publish at `rate` from another process, so that publishing is not counted as the service's CPU."""
    process = multiprocessing.get_context("spawn").Process(target=_publish_process, args=(nats_url, messages, rate),
                                                           daemon=True)
    process.start()
    return process


def _publish_process(nats_url: str, messages: list[tuple[str, bytes, str]], rate: float) -> None:
    asyncio.run(publish(nats_url, messages, rate))


async def run_consumer(url: str, nats_url: str, args: argparse.Namespace, results: list[Measurement]) -> None:
    """Start a worker app on a broker holding every event (or receiving them at --rate); measure until its inbox has
    them all."""
    journeys = await journey_messages(url)
    messages = len(journeys)
    if not args.rate:
        await publish(nats_url, journeys)
    app = create_app(settings(url, nats_url, args, api=False, workers=True))
    runtime = app.state.runtime
    runtime.workers = []  # the consumers and the relay only: the periodic workers are not what is measured
    watcher = Database(url)  # polls on its own engine, so its statements are not counted
    inbox = runtime.tables.inbox
    profiler = args.profiler
    batches = batches_handled()
    (cpu, system), wall = cpu_times(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    async with running(app):
        counter = StatementCounter(runtime.db.engine)  # before the consumers' first statement (they connect first)
        publisher = publish_in_a_child(nats_url, journeys, args.rate) if args.rate else None
        handled = 0
        while handled < messages:
            await asyncio.sleep(0.2)
            async with watcher.reader() as session:
                handled = (await session.execute(select(func.count()).select_from(inbox))).scalar_one()
        if profiler is not None:
            profiler.disable()
        cpu_end, system_end = cpu_times()
        if publisher is not None:
            publisher.join()
        batches = batches_handled() - batches
        results.append(Measurement("consumer", messages, "msgs", time.perf_counter() - wall, cpu_end - cpu,
                                   system_end - system, counter.count,
                                   note=f"{batches:.0f} batches of {messages / max(batches, 1):.0f} on average"))
    await watcher.dispose()


def batches_handled() -> float:
    """Batches the orders consumers have handled in this process (the kit's batch-duration histogram count)."""
    for metric in BATCH_SECONDS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels.get("service") == "orders":
                return sample.value
    return 0.0


# ── main ──────────────────────────────────────────────────────────────────────


async def main(args: argparse.Namespace) -> list[Measurement]:
    parcels = max(BATCH_SIZE * 2, args.events // EVENTS_PER_PARCEL // (BATCH_SIZE * 2) * BATCH_SIZE * 2)
    run = uuid.uuid4().hex[:6]
    results: list[Measurement] = []
    args.profiler = cProfile.Profile(time.process_time) if args.profile and args.phase != "all" else None
    server = NatsServer()
    server.start()
    try:
        async with fresh_database(args.db, args.workdir) as url:
            if args.phase in ("all", "intake", "consumer"):
                await run_intake(url, server.url, args, parcels, run, results if args.phase != "consumer" else [])
            if args.phase in ("all", "consumer"):
                await run_consumer(url, server.url, args, results)
    finally:
        server.cleanup()
    if args.profiler is not None:
        args.profiler.dump_stats(args.profile)
    return results


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--events", type=int, default=10_000, help="consumed events (orders taken: events / 10)")
    parser.add_argument("--phase", choices=("all", "intake", "consumer"), default="all",
                        help="consumer: intake runs unmeasured to create the orders")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="consumer: events per second published (from another process) while it runs; "
                             "0: all published before it starts, so it takes full batches")
    parser.add_argument("--webhooks", type=int, default=0, help="enabled webhook endpoints of the merchant")
    parser.add_argument("--held-share", type=float, default=0.05, help="share of orders with a vague description")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight during intake")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--profile", type=Path,
                        help="write cProfile stats (CPU time) of the measured blocks of --phase intake or consumer here")
    return parser.parse_args()


def report(args: argparse.Namespace, results: list[Measurement]) -> None:
    print(f"orders micro-benchmark: db={args.db} events={args.events} webhooks={args.webhooks} "
          f"log_level={args.log_level}" + (f" rate={args.rate:.0f}/s" if args.rate else ""))
    for measurement in results:
        print("  " + measurement.line())


if __name__ == "__main__":
    arguments = parse_args()
    with tempfile.TemporaryDirectory(prefix="micro-orders-") as workdir:
        arguments.workdir = Path(workdir)
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            outcome = asyncio.run(main(arguments))
        report(arguments, outcome)
