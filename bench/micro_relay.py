"""In-process micro-benchmark of the outbox relay: CPU time and socket writes per published row.

    python -m bench.micro_relay --db sqlite --rows 5000
    python -m bench.micro_relay --db postgres --rows 5000 --batch 20

Writes `rows` outbox rows (order.accepted envelopes) in transactions of `--batch`, then lets a Relay publish them to
a real nats-server round by round (publish_batch, as its loop does) and prints the CPU ms (time.process_time) and
the socket send calls (nats-py's writes) per row published.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.micro_orders import DEFAULT_POSTGRES
from bench.orders import order_body
from shared.bus import Bus
from shared.contract.envelope import Envelope
from shared.contract.events import OrderAccepted
from shared.contract.parcel import Parcel
from shared.db import Database, utcnow
from shared.natsserver import NatsServer
from shared.outbox import Outbox, Relay, outbox_table


async def main(args: argparse.Namespace) -> None:
    metadata = MetaData()
    table = outbox_table(metadata)
    admin = name = None
    if args.db == "sqlite":
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'relay.db'}"
    else:
        admin = create_async_engine(os.environ.get("SILKGATE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
                                    isolation_level="AUTOCOMMIT")
        name = f"micro_relay_{uuid.uuid4().hex[:8]}"
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = str(admin.url.set(database=name).render_as_string(hide_password=False))
    nats = NatsServer()
    nats.start()
    db = Database(url)
    bus = Bus(nats.url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        await bus.connect(retry=False)
        outbox = Outbox(table)
        for start in range(0, args.rows, args.batch):
            async with db.transaction() as session:
                await outbox.add_envelopes(session, [
                    Envelope.wrap(OrderAccepted(order_id=f"o{n}", merchant_code="M001", accepted_at=utcnow(),
                                                parcel=Parcel.model_validate(order_body(n, "relay", held=False))),
                                  subject=f"o{n}", correlation_id=f"c{n}")
                    for n in range(start, min(args.rows, start + args.batch))])
        relay = Relay(db, bus, table, service="orders", batch_size=args.relay_batch)
        sends = 0
        original = socket.socket.send

        def counting_send(sock, *a, **k):
            nonlocal sends
            sends += 1
            return original(sock, *a, **k)

        socket.socket.send = counting_send
        cpu, wall = time.process_time(), time.perf_counter()
        published = 0
        while published < args.rows:
            published += await relay.publish_batch()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        socket.socket.send = original
        print(f"relay micro-benchmark ({args.db}): {published} rows in rounds of {args.relay_batch}: "
              f"{published / wall:.0f} rows/s, CPU {cpu * 1000 / published:.3f} ms/row, "
              f"{sends / published:.2f} socket sends/row")
    finally:
        await bus.close()
        await db.dispose()
        nats.cleanup()
        if admin is not None:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=50, help="outbox rows written per transaction")
    parser.add_argument("--relay-batch", type=int, default=500, help="the relay's batch size")
    asyncio.run(main(parser.parse_args()))
