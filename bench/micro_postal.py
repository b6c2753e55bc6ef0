"""Micro-benchmark of the postal service in one process: its consumers, workers, relay and tracking API.

    python -m bench.micro_postal --db sqlite --events 4000
    python -m bench.micro_postal --db postgres --events 4000

The real flow per parcel, in three measured phases on a real nats-server and a fresh database:
  1. order.accepted (orders stream), published before postal starts, consumed as one backlog;
  2. declaration.released (customs stream) for the parcels customs does not hold, then the consolidation and
     handoff workers closing receptacles and dispatches and emitting parcel.handed_off per parcel (to an
     in-process carrier);
  3. the carrier's tracking events, POSTed in batches of 200 to /v1/tracking-events through an in-process client.
`--events` counts the consumed envelopes (accepted + released); phase 3 adds ~5.3 events per handed-off parcel.

Per phase: messages/s (wall), CPU ms per message (process_time of this process, the service's relay and workers
included; the envelopes are published by a child process so that work is not counted) and SQL statements per
message (a before_cursor_execute listener on the service's engine). Wall times are noisy on a shared machine;
CPU and statements are the numbers to compare. Loggers are cached as in a served process (shared.serve).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import create_async_engine

from bench.orders import is_held, order_body
from services.postal.app import create_app
from services.postal.models import Waybill, metadata, tables
from services.postal.settings import PostalSettings
from shared.auth import generate_key
from shared.bus import Bus
from shared.contract.envelope import Envelope
from shared.contract.events import DeclarationReleased, OrderAccepted
from shared.contract.parcel import Parcel
from shared.db import Database
from shared.logging import cache_loggers, configure_logging
from shared.natsserver import NatsServer

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
HELD_SHARE = 0.05  # the pipeline benchmark's default share of parcels customs holds (never released)
FORMS = {"mail": "CN22", "express": "express_B", "ecommerce": "inventory_list"}
MAIL_CODES = ["EMC", "EMD", "EDB", "EMF", "EDG", "EMI"]  # the sandbox carrier's journeys (services/carrier)
EXPRESS_CODES = ["PU", "IT", "CC", "OD", "DL"]
TRACKING_BATCH = 200  # the sandbox carrier's post_batch_size
IDLE_S = 5.0
S10_SHAPE = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}")


# ── what flows in ──────────────────────────────────────────────────────────────


def accepted_envelopes(parcels: int, run: str) -> list[Envelope]:
    envelopes = []
    for n in range(parcels):
        order_id = f"ord_{run}_{n:07d}"
        parcel = Parcel.model_validate(order_body(n, run, held=False))
        event_ = OrderAccepted(order_id=order_id, merchant_code="M001", accepted_at=datetime.now(UTC), parcel=parcel)
        envelopes.append(Envelope.wrap(event_, subject=order_id, correlation_id=f"corr-{run}-{n}"))
    return envelopes


def released_envelopes(accepted: list[Envelope]) -> list[Envelope]:
    envelopes = []
    for n, envelope in enumerate(accepted):
        if is_held(n, HELD_SHARE):
            continue
        channel = envelope.data["parcel"]["channel"]
        event_ = DeclarationReleased(declaration_id=f"dcl_{envelope.subject}", order_id=envelope.subject,
                                     channel=channel, status="released", ceb_code=800,
                                     occurred_at=datetime.now(UTC), form=FORMS[channel], value_cny=Decimal("60.00"))
        envelopes.append(Envelope.wrap(event_, subject=envelope.subject, correlation_id=envelope.correlation_id,
                                       causation_id=envelope.id))
    return envelopes


async def publish_file(nats_url: str, path: str) -> None:
    """(Child process) publish the envelopes of a JSON-lines file as their services' relays would."""
    configure_logging("publisher", level="WARNING")
    bus = Bus(nats_url)
    await bus.connect(retry=False)
    assert bus.js is not None
    lines = Path(path).read_bytes().splitlines()
    for start in range(0, len(lines), 500):
        futures = []
        for line in lines[start:start + 500]:
            envelope = json.loads(line)
            futures.append(await bus.js.publish_async(envelope["type"], line, headers={"Nats-Msg-Id": envelope["id"]}))
        await asyncio.gather(*futures)
    await bus.close()


async def publish(nats_url: str, envelopes: list[Envelope], workdir: Path) -> None:
    """Publish from a child process, so this process's CPU time stays the service's."""
    path = workdir / f"envelopes-{uuid.uuid4().hex[:6]}.jsonl"
    path.write_bytes(b"\n".join(envelope.to_bytes() for envelope in envelopes))
    child = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.micro_postal", "--publish", str(path),
                                                 "--nats-url", nats_url)
    if await child.wait() != 0:
        raise RuntimeError("the publisher failed")


def tracking_bodies(numbers: list[str], *, now: datetime) -> tuple[list[bytes], int]:
    """The carrier's batches: every parcel's first step, then every parcel's second, … 200 events per POST."""
    start = now - timedelta(hours=2)
    events = []
    for step in range(max(len(MAIL_CODES), len(EXPRESS_CODES))):
        for number in numbers:
            codes = MAIL_CODES if S10_SHAPE.fullmatch(number) else EXPRESS_CODES
            if step < len(codes):
                events.append({"tracking_number": number, "code": codes[step],
                               "occurred_at": (start + timedelta(minutes=10 * step)).isoformat(),
                               "location": "KZALAA", "description": ""})
    bodies = [json.dumps({"events": events[i:i + TRACKING_BATCH]}).encode()
              for i in range(0, len(events), TRACKING_BATCH)]
    return bodies, len(events)


# ── measuring ──────────────────────────────────────────────────────────────────


class StatementCounter:
    """Counts the statements the service's engine sends (an executemany counts once)."""

    def __init__(self) -> None:
        self.engine: Any = None
        self.count = 0
        event.listen(Engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, conn: Any, *_args: Any) -> None:
        if conn.engine is self.engine:
            self.count += 1

    def close(self) -> None:
        event.remove(Engine, "before_cursor_execute", self._on_execute)


@dataclass
class Phase:
    name: str
    messages: int
    wall_s: float
    cpu_s: float
    statements: int

    def row(self) -> str:
        per = max(self.messages, 1)
        return (f"{self.name:<34} {self.messages:>7} {self.messages / self.wall_s:>9.0f} "
                f"{self.cpu_s * 1000 / per:>10.3f} {self.statements / per:>9.2f}")


class Meter:
    """Wall time, CPU time and statements between start() and stop(); with `profile_dir`, a pyinstrument
    report of each phase there too."""

    def __init__(self, counter: StatementCounter, profile_dir: Path | None = None) -> None:
        self.counter = counter
        self.profile_dir = profile_dir
        self.phases: list[Phase] = []
        self._profiler: Any = None

    def start(self) -> None:
        if self.profile_dir is not None:
            from pyinstrument import Profiler

            self._profiler = Profiler(interval=0.0005, async_mode="disabled")
            self._profiler.start()
        self._wall, self._cpu, self._statements = time.perf_counter(), time.process_time(), self.counter.count

    def stop(self, name: str, messages: int) -> None:
        self.phases.append(Phase(name, messages, time.perf_counter() - self._wall, time.process_time() - self._cpu,
                                 self.counter.count - self._statements))
        if self._profiler is not None and self.profile_dir is not None:
            self._profiler.stop()
            path = self.profile_dir / f"profile-{name.split()[0]}.txt"
            path.write_text(self._profiler.output_text(unicode=False, color=False, show_all=False))
            self._profiler.start()  # phases 2b and 3b go on from 2a and 3a

    def finish(self) -> None:
        if self._profiler is not None and self._profiler.is_running:
            self._profiler.stop()


class Probe:
    """Reads progress through its own engine: its statements are not counted, its CPU is (a few ms a second)."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)

    async def scalar(self, query: Any) -> int:
        async with self.db.reader() as session:
            return int((await session.execute(query)).scalar_one())

    async def until(self, query: Any, target: int, *, timeout: float, interval: float = 0.1) -> None:
        deadline = time.monotonic() + timeout
        while (value := await self.scalar(query)) < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{query} reached {value}, not {target}")
            await asyncio.sleep(interval)

    async def outbox_drained(self, *, timeout: float) -> None:
        unsent = select(func.count()).select_from(tables.outbox).where(tables.outbox.c.sent_at.is_(None))
        deadline = time.monotonic() + timeout
        while await self.scalar(unsent):
            if time.monotonic() > deadline:
                raise TimeoutError("the outbox did not drain")
            await asyncio.sleep(0.1)


class InProcessCarrier:
    """Takes every manifest at once, like the sandbox carrier but without HTTP."""

    async def hand_off(self, *, carrier: str, dispatch_id: str, manifest: dict[str, Any]) -> dict[str, Any]:
        return {"receipt_id": f"rcv_{dispatch_id}", "items": len(manifest.get("items", []))}

    async def aclose(self) -> None:
        pass


# ── databases ──────────────────────────────────────────────────────────────────


@contextlib.asynccontextmanager
async def fresh_database(kind: str, postgres_url: str, workdir: Path):
    """A temp SQLite file, or a PostgreSQL database of our own dropped at the end; tables made from metadata."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'postal.db'}"
        admin, name = None, None
    else:
        name = f"micro_postal_{uuid.uuid4().hex[:8]}"
        admin = create_async_engine(postgres_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await db.dispose()
    try:
        yield url
    finally:
        if admin is not None:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()


# ── the run ────────────────────────────────────────────────────────────────────


async def benchmark(args: argparse.Namespace, sink: Any) -> list[Phase]:
    run = uuid.uuid4().hex[:6]
    workdir = Path(tempfile.mkdtemp(prefix=f"micro-postal-{run}-"))
    parcels = max(1, round(args.events / (2 - HELD_SHARE)))
    accepted = accepted_envelopes(parcels, run)
    released = released_envelopes(accepted)
    nats = NatsServer()
    nats.start()
    counter = StatementCounter()
    meter = Meter(counter, workdir if args.profile else None)
    try:
        async with fresh_database(args.db, args.postgres_url, workdir) as url:
            settings = PostalSettings(
                database_url=url, nats_url=nats.url, migrate_on_start=False, consumer_fetch_timeout_s=0.5,
                log_level=args.log_level, log_file=str(workdir / "postal.jsonl"),
                max_receptacle_age_s=args.age_s, max_dispatch_age_s=args.age_s,
                sandbox=True,  # the bench's carrier key acts for every carrier ("*"), as in the embedded stack
            )
            await publish(nats.url, accepted, workdir)
            probe = Probe(url)
            cache_loggers()  # as a served process does (shared.serve): each logger built once, not at every call
            app = create_app(settings, carrier_adapter=InProcessCarrier())
            # The service logs JSON lines to stdout and to its log file: keep stdout for the results.
            with contextlib.redirect_stdout(sink):
                meter.start()
                async with app.router.lifespan_context(app):
                    counter.engine = app.state.runtime.db.engine.sync_engine
                    await run_phases(args, app, probe, meter, accepted, released, nats.url, workdir)
            await probe.db.dispose()
            print(f"logs and data: {workdir}", file=sys.stderr)
    finally:
        counter.close()
        nats.cleanup()
    return meter.phases


async def run_phases(args: argparse.Namespace, app: Any, probe: Probe, meter: Meter, accepted: list[Envelope],
                     released: list[Envelope], nats_url: str, workdir: Path) -> None:
    inbox = select(func.count()).select_from(tables.inbox)
    handed = select(func.count()).select_from(Waybill).where(Waybill.status == "handed_off")
    # 1. The backlog of order.accepted, published before postal started (meter started with it).
    await probe.until(inbox, len(accepted), timeout=args.timeout)
    await probe.outbox_drained(timeout=args.timeout)
    meter.stop("1 order.accepted", len(accepted))

    # 2. declaration.released as customs publishes them; then the tail closes by age and is handed off.
    meter.start()
    await publish(nats_url, released, workdir)
    await probe.until(inbox, len(accepted) + len(released), timeout=args.timeout)
    meter.stop("2a declaration.released (consumed)", len(released))
    await probe.until(handed, len(released), timeout=args.timeout, interval=0.25)
    await probe.outbox_drained(timeout=args.timeout)
    meter.stop("2b ... + consolidation + handoff", len(released))

    # 3. The carrier's tracking events on every handed-off parcel, in batches.
    async with probe.db.reader() as session:
        numbers = list((await session.execute(
            select(Waybill.tracking_number).where(Waybill.status == "handed_off").order_by(Waybill.issued_at)
        )).scalars())
    bodies, events = tracking_bodies(numbers, now=datetime.now(UTC))
    headers = {"Authorization": f"Bearer {await carrier_key(app)}", "Content-Type": "application/json"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://postal") as client:
        meter.start()
        for body in bodies:
            response = await client.post("/v1/tracking-events", content=body, headers=headers)
            if response.status_code != 200 or response.json()["accepted"] != len(json.loads(body)["events"]):
                raise RuntimeError(f"tracking batch answered {response.status_code}: {response.text[:300]}")
        meter.stop("3a tracking events (answered)", events)
        await probe.outbox_drained(timeout=args.timeout)
        meter.stop("3b ... + relay", events)

    # What the idle service costs (polling consumers, relay and workers), to read the phases' tails against.
    meter.start()
    await asyncio.sleep(IDLE_S)
    meter.stop("idle, per second", round(IDLE_S))
    meter.finish()


async def carrier_key(app: Any) -> str:
    runtime = app.state.runtime
    key_id, key = generate_key("carrier")
    async with runtime.db.transaction() as session:
        await runtime.api_keys.insert(session, key_id=key_id, key=key, role="carrier", owner="*", name="bench carrier")
    return key


def _print(args: argparse.Namespace, phases: list[Phase]) -> None:
    print(f"\npostal micro-benchmark ({args.db}, {args.events} consumed envelopes)")
    print(f"{'phase':<34} {'msgs':>7} {'msgs/s':>9} {'CPU ms/msg':>10} {'stmt/msg':>9}")
    for phase in phases:
        print(phase.row())
    print("(the idle row: CPU ms and statements per second; phase 2b includes about 2 x --age-s of idling)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--events", type=int, default=4000, help="consumed envelopes (accepted + released)")
    parser.add_argument("--age-s", type=int, default=10, help="receptacle and dispatch age limit (closes the tail)")
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--profile", action="store_true", help="a pyinstrument report per phase in the work dir")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--publish", help=argparse.SUPPRESS)
    parser.add_argument("--nats-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        asyncio.run(publish_file(args.nats_url, args.publish))
        return
    quiet = args.log_level.upper() in ("WARNING", "ERROR")
    # The service logs JSON lines to stdout as well as to its log file: keep stdout for the results.
    with open(os.devnull, "w") as devnull:
        phases = asyncio.run(benchmark(args, sys.stderr if quiet else devnull))
    _print(args, phases)


if __name__ == "__main__":
    main()
