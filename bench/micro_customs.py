"""Micro-benchmark of the customs consumers: the real service in this process, a real nats-server, a fresh database.

    python -m bench.micro_customs --db sqlite --events 3000
    python -m bench.micro_customs --db postgres --events 3000 --round 50

Per parcel customs gets order.accepted (orders stream; a third each mail, express and e-commerce, the e-commerce
ones carrying their payment), for an e-commerce one the payment provider's payment.recorded (orders stream), and
waybill.issued (postal stream); a share is meant to be held (vague description). With the payments the e-commerce
declarations complete their three documents and file CEB311 + CEB621 (signed XML), as in the pipeline;
--no-payments leaves them waiting (the figures of the bench before it sent payments).

Two flows:
  rounds   (default) the pipeline's order: a round of order.accepted with the e-commerce ones' payments right
           behind them (as the payment provider sends them), handled, then the same parcels' waybills.
           Only the waits are measured, so publishing costs nothing; results are given per event type.
  backlog  everything published before the service starts; the two consumers race (waybills often come first).

Prints messages/s, CPU ms per message (time.process_time of this process while the service works: consumers,
relay and deadline worker) and SQL statements per message (a before_cursor_execute listener, split by who ran them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import cProfile
import os
import random
import shutil
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.orders import is_held, order_body
from services.customs.app import create_app
from services.customs.models import Declaration, metadata, tables
from services.customs.settings import CustomsSettings
from shared.bus import Bus
from shared.consumer import DurableConsumer
from shared.contract.envelope import Envelope
from shared.contract.events import OrderAccepted, PaymentRecorded, WaybillIssued
from shared.contract.parcel import Parcel
from shared.db import Database
from shared.natsserver import NatsServer
from shared.outbox import Relay

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
CARRIERS = {"mail": "CNPOST", "express": "SGX", "ecommerce": "CNPOST"}

# Who is running a statement: set by the wrapped consumer batch and relay round (contextvars follow the task).
_actor: contextvars.ContextVar[str] = contextvars.ContextVar("micro_customs_actor", default="other")


# ── the events ──────────────────────────────────────────────────────────────


def parcel_events(n: int, run: str, held_share: float) -> tuple[Envelope, Envelope | None, Envelope]:
    """order.accepted, payment.recorded (e-commerce only, else None) and waybill.issued of parcel n, in envelopes as
    the orders and postal relays send them."""
    order_id = f"ord_{run}{n:08d}"
    parcel = Parcel.model_validate(order_body(n, run, held=is_held(n, held_share)))
    now = datetime.now(UTC)
    accepted = OrderAccepted(order_id=order_id, merchant_code="kashgar-trading", accepted_at=now, parcel=parcel)
    waybill = WaybillIssued(order_id=order_id, merchant_order_no=parcel.merchant_order_no,
                            tracking_number=f"RR{n:09d}CN", channel=parcel.channel, carrier=CARRIERS[parcel.channel],
                            consignee=parcel.consignee, issued_at=now)
    correlation_id = f"corr-{order_id}"
    payment = None
    if parcel.payment is not None:
        payment = Envelope.wrap(PaymentRecorded(order_id=order_id, merchant_code="kashgar-trading",
                                                payment=parcel.payment, provider_code="alipay"),
                                subject=order_id, correlation_id=correlation_id)
    return (Envelope.wrap(accepted, subject=order_id, correlation_id=correlation_id), payment,
            Envelope.wrap(waybill, subject=order_id, correlation_id=correlation_id))


async def publish(bus: Bus, envelopes: list[Envelope]) -> None:
    js = bus.js
    assert js is not None
    futures = [await js.publish_async(e.type, e.to_bytes(), headers={"Nats-Msg-Id": e.id}) for e in envelopes]
    await asyncio.gather(*futures)


# ── measuring ───────────────────────────────────────────────────────────────


def statement_kind(statement: str) -> str:
    """"INSERT declarations", "SELECT FROM documents", "BEGIN"...: the verb and the first table named."""
    words = statement.split()
    verb = words[0].upper()
    table = next((words[i + 1] for i, word in enumerate(words[:-1]) if word.upper() in ("INTO", "FROM", "UPDATE")),
                 "")
    return f"{verb} {'(subquery)' if table.startswith('(') else table}".strip()


@dataclass
class Meter:
    """Messages handled, statements run and relay rounds, counted by the wrapped kit methods."""

    handled: int = 0
    statements: Counter = field(default_factory=Counter)  # by actor
    kinds: Counter = field(default_factory=Counter)  # by actor and statement kind
    profiler: cProfile.Profile | None = None  # --profile: only while the service works
    relay_idle: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def install(self, db: Database) -> None:
        @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
        def _count(_conn, _cursor, statement: str, *_args) -> None:
            self.statements[_actor.get()] += 1
            self.kinds[_actor.get(), statement_kind(statement)] += 1

        meter = self
        handle_batch = DurableConsumer.handle_batch
        publish_batch = Relay.publish_batch

        async def counted_batch(consumer, msgs):
            _actor.set("consumers")
            try:
                return await handle_batch(consumer, msgs)
            finally:
                meter.handled += len(msgs)
                meter.changed.set()

        async def counted_relay(relay):
            _actor.set("relay")
            sent = await publish_batch(relay)
            if sent == 0:
                meter.relay_idle.set()
            else:
                meter.relay_idle.clear()
            return sent

        DurableConsumer.handle_batch = counted_batch
        Relay.publish_batch = counted_relay

    async def wait_handled(self, count: int, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while self.handled < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), timeout=max(deadline - time.monotonic(), 0.001))
        # The relay publishes what the handlers emitted; its work belongs to the same messages.
        self.relay_idle.clear()
        await asyncio.wait_for(self.relay_idle.wait(), timeout=max(deadline - time.monotonic(), 0.001))


@dataclass
class Phase:
    """What one kind of work cost: messages, wall and CPU seconds, statements by actor and by kind."""

    messages: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    statements: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)

    def add(self, other: Phase) -> None:
        self.messages += other.messages
        self.wall_s += other.wall_s
        self.cpu_s += other.cpu_s
        self.statements.update(other.statements)
        self.kinds.update(other.kinds)

    def row(self, name: str) -> str:
        n = max(self.messages, 1)
        total = sum(self.statements.values())
        return (f"{name:<16} {self.messages:>7} {self.messages / max(self.wall_s, 1e-9):>9.0f} "
                f"{self.cpu_s * 1000 / n:>9.2f} {self.statements['consumers'] / n:>10.2f} "
                f"{self.statements['relay'] / n:>7.2f} {total / n:>7.2f}")


async def measured(meter: Meter, messages: int) -> Phase:
    """Wait until `messages` more are handled (and the relay has caught up); what that cost."""
    target = meter.handled + messages
    statements, kinds = Counter(meter.statements), Counter(meter.kinds)
    if meter.profiler is not None:
        meter.profiler.enable()
    wall, cpu = time.perf_counter(), time.process_time()
    await meter.wait_handled(target)
    phase = Phase(messages, time.perf_counter() - wall, time.process_time() - cpu, meter.statements - statements,
                  meter.kinds - kinds)
    if meter.profiler is not None:
        meter.profiler.disable()
    return phase


# ── databases ───────────────────────────────────────────────────────────────


async def fresh_database(kind: str, tmp: Path) -> tuple[str, str | None]:
    """A new SQLite file, or a new PostgreSQL database micro_customs_<random>; returns (url, database to drop)."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'customs.db'}"
        name = None
    else:
        admin_url = os.environ.get("SILKGATE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
        name = f"micro_customs_{uuid.uuid4().hex[:8]}"
        admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await db.dispose()
    return url, name


async def drop_database(name: str | None) -> None:
    if name is None:
        return
    admin = create_async_engine(os.environ.get("SILKGATE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
                                isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


# ── the run ─────────────────────────────────────────────────────────────────


async def run(args: argparse.Namespace, quiet: TextIO) -> None:
    parcels = max(args.events // 2, 1)
    run_id = uuid.uuid4().hex[:6]
    print(f"micro_customs: {args.db}, {parcels} parcels, flow {args.flow}, "
          f"round {args.round}, batch size {args.batch_size}", flush=True)
    events = [parcel_events(n, run_id, args.held_share) for n in range(parcels)]
    if not args.payments:
        events = [(accepted, None, waybill) for accepted, _, waybill in events]
    expected = sum(1 for triple in events for e in triple if e is not None)
    tmp = Path(tempfile.mkdtemp(prefix="micro-customs-"))
    server = NatsServer()
    server.start()
    url, database = await fresh_database(args.db, tmp)
    settings = CustomsSettings(
        database_url=url, nats_url=server.url, migrate_on_start=False, run_api=False, log_level=args.log_level,
        log_file=str(tmp / "customs.jsonl"), consumer_batch_size=args.batch_size,
    )
    phases = {"order+payment": Phase(), "waybill.issued": Phase(), "all": Phase()}
    meter = Meter(profiler=cProfile.Profile(time.process_time) if args.profile else None)
    try:
        with contextlib.redirect_stdout(quiet):  # the service's log lines go to stdout as well as to its file
            handled, statuses = await run_service(settings, meter, events, args, phases)
    finally:
        server.cleanup()
        await drop_database(database)
        shutil.rmtree(tmp, ignore_errors=True)
    if meter.profiler is not None:
        meter.profiler.dump_stats(args.profile)
    print(f"declarations: {statuses}")
    if handled != expected:
        print(f"WARNING: inbox holds {handled} events, expected {expected}")
    print(f"{'':<16} {'msgs':>7} {'msgs/s':>9} {'CPU ms':>9} {'stmts':>10} {'relay':>7} {'total':>7}")
    print(f"{'':<16} {'':>7} {'':>9} {'/msg':>9} {'consumer':>10} {'/msg':>7} {'/msg':>7}")
    for name, phase in phases.items():
        if phase.messages:
            print(phase.row(name))
    every = phases["all"]
    print(f"per parcel: CPU {every.cpu_s * 1000 / parcels:.2f} ms, "
          f"{every.statements['consumers'] / parcels:.2f} consumer statements ({parcels} parcels)")
    if args.statements:
        print_statements(phases)


async def run_service(settings: CustomsSettings, meter: Meter, events: list[tuple[Envelope, Envelope | None, Envelope]],
                      args: argparse.Namespace, phases: dict[str, Phase]) -> tuple[int, dict[str, int]]:
    """Start the service, feed it the events, wait; returns the inbox count and how the declarations ended."""
    bus = Bus(settings.nats_url)
    await bus.connect(retry=False)
    try:
        if args.flow == "backlog":
            await publish(bus, [e for triple in events for e in triple if e is not None])
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            runtime = app.state.runtime
            meter.install(runtime.db)
            await runtime.bus.wait_ready()
            if args.flow == "backlog":
                phases["all"].add(await measured(meter, sum(1 for t in events for e in t if e is not None)))
            else:
                await run_rounds(bus, meter, events, args.round, phases)
            return await inbox_count(runtime.db), await declaration_statuses(runtime.db)
    finally:
        await bus.close()


def print_statements(phases: dict[str, Phase]) -> None:
    """The consumers' statements per message, by kind and table."""
    for name, phase in phases.items():
        if not phase.messages or name == "all" and len([p for p in phases.values() if p.messages]) > 1:
            continue
        print(f"\n{name}: consumer statements per message")
        kinds = Counter({kind: count for (actor, kind), count in phase.kinds.items() if actor == "consumers"})
        for kind, count in kinds.most_common():
            print(f"  {count / phase.messages:6.2f}  {kind}")


async def run_rounds(bus: Bus, meter: Meter, events: list[tuple[Envelope, Envelope | None, Envelope]], size: int,
                     phases: dict[str, Phase]) -> None:
    for start in range(0, len(events), size):
        chunk = events[start:start + size]
        # The payment provider pays the orders just accepted (bench.run): its payments follow their orders closely,
        # so a consumer batch often holds a parcel's order.accepted and payment.recorded together.
        for indexes, name in (((0, 1), "order+payment"), ((2,), "waybill.issued")):
            envelopes = [triple[i] for triple in chunk for i in indexes if triple[i] is not None]
            if not envelopes:
                continue
            await publish(bus, envelopes)
            phase = await measured(meter, len(envelopes))
            phases[name].add(phase)
            phases["all"].add(phase)


async def declaration_statuses(db: Database) -> dict[str, int]:
    """How the declarations ended: a declaration still "accepted" waits for a document it should have."""
    query = select(Declaration.status, func.count()).group_by(Declaration.status).order_by(Declaration.status)
    async with db.reader() as session:
        return dict((await session.execute(query)).all())


async def inbox_count(db: Database) -> int:
    async with db.reader() as session:
        return (await session.execute(select(func.count()).select_from(tables.inbox))).scalar_one()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--events", type=int, default=3000,
                        help="twice the parcels (order.accepted and waybill.issued; e-commerce payments come on top)")
    parser.add_argument("--no-payments", dest="payments", action="store_false",
                        help="send no payment.recorded: e-commerce declarations keep waiting (no XML filing)")
    parser.add_argument("--flow", choices=["rounds", "backlog"], default="rounds")
    parser.add_argument("--round", type=int, default=100, help="parcels per round (rounds flow)")
    parser.add_argument("--batch-size", type=int, default=200, help="consumer batch size")
    parser.add_argument("--held-share", type=float, default=0.05, help="share of parcels meant to be held")
    parser.add_argument("--log-level", default="WARNING", help="the service's log level (the pipeline bench's default)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", metavar="FILE", help="write cProfile stats of the measured phases to FILE")
    parser.add_argument("--statements", action="store_true", help="also list the statements by kind and table")
    args = parser.parse_args()
    random.seed(args.seed)
    with open(os.devnull, "w") as quiet:
        asyncio.run(run(args, quiet))


if __name__ == "__main__":
    main()
