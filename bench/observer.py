"""Watches the pipeline from outside: every published event (core NATS subscription), lags, and process CPU."""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime

import nats
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

MILESTONES = {
    "silkgate.orders.order.accepted.v1": "accepted",
    "silkgate.postal.waybill.issued.v1": "waybill_issued",
    "silkgate.customs.declaration.released.v1": "released",
    "silkgate.customs.declaration.held.v1": "held",
    "silkgate.postal.parcel.handed_off.v1": "handed_off",
}
CONSUMERS = {"SILKGATE_ORDERS": ["customs", "postal"], "SILKGATE_CUSTOMS": ["orders", "postal"],
             "SILKGATE_POSTAL": ["orders", "customs"]}


@dataclass
class Observer:
    nats_url: str
    database_urls: dict[str, str]
    milestones: dict[str, dict[str, float]] = field(default_factory=dict)  # order id → milestone → event time
    observed_at: dict[str, list[float]] = field(default_factory=dict)  # milestone → wall times seen
    samples: list[dict] = field(default_factory=list)
    raw_events: dict[str, bytes] = field(default_factory=dict)  # event type → one real message (the Python floor)
    postgres_databases: list[str] = field(default_factory=list)  # this run's databases: whose backends' CPU counts
    _postgres_cpu: dict[int, float] = field(default_factory=dict)  # pid → CPU seconds last seen

    async def start(self) -> None:
        self.nc = await nats.connect(self.nats_url)
        for subject in MILESTONES:
            await self.nc.subscribe(subject, cb=self._on_message)
        self._engines = {s: create_async_engine(u) for s, u in self.database_urls.items()}

    async def _on_message(self, msg) -> None:
        name = MILESTONES.get(msg.subject)
        if name is None:
            return
        envelope = json.loads(msg.data)
        self.raw_events.setdefault(msg.subject, msg.data)
        event_time = datetime.fromisoformat(envelope["time"].replace("Z", "+00:00")).timestamp()
        self.milestones.setdefault(envelope["subject"], {}).setdefault(name, event_time)
        self.observed_at.setdefault(name, []).append(time.time())

    async def sample(self, pids: dict[str, int]) -> dict:
        """One row of the time series: consumer lag per durable, outbox lag per service, CPU seconds per process."""
        js = self.nc.jetstream()
        consumer_lag: dict[str, int] = {}
        for stream, consumers in CONSUMERS.items():
            for consumer in consumers:
                try:
                    info = await js.consumer_info(stream, consumer)
                    consumer_lag[f"{consumer}<-{stream.split('_')[1].lower()}"] = info.num_pending + info.num_ack_pending
                except Exception:  # noqa: BLE001 - not created yet
                    consumer_lag[f"{consumer}<-{stream.split('_')[1].lower()}"] = 0
        outbox_lag: dict[str, int] = {}
        for service, engine in self._engines.items():
            async with engine.connect() as conn:
                outbox_lag[service] = (await conn.execute(text("SELECT count(*) FROM outbox WHERE sent_at IS NULL"))).scalar_one()
        row = {"t": time.time(), "consumer_lag": consumer_lag, "outbox_lag": outbox_lag,
               "cpu_s": {**{name: cpu_seconds(pid) for name, pid in pids.items()}, **await self._database_cpu()},
               "counts": {k: len(v) for k, v in self.observed_at.items()}}
        self.samples.append(row)
        return row

    async def _database_cpu(self) -> dict[str, float]:
        """PostgreSQL's CPU for this run: the backends connected to its databases plus the server's own background
        processes (WAL writer, checkpointer, …), not the backends of other users of the same server. Counted per
        process and kept when a backend exits, so the sum only grows."""
        if not self.postgres_databases:
            return {}  # SQLite: the machine's PostgreSQL serves others, not this run
        engine = next(iter(self._engines.values()))
        async with engine.connect() as conn:
            pids = (await conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = ANY(:names) OR backend_type <> 'client backend'"),
                {"names": self.postgres_databases})).scalars().all()
        for pid in pids:
            seconds = cpu_seconds(pid)
            if seconds:
                self._postgres_cpu[pid] = max(seconds, self._postgres_cpu.get(pid, 0.0))
        return {"postgresql-server": sum(self._postgres_cpu.values())}

    async def stop(self) -> None:
        await self.nc.drain()
        for engine in self._engines.values():
            await engine.dispose()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, from /proc (Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


async def raw_insert_rate(database_url: str, seconds: float = 3.0) -> float:
    """Single-row insert transactions per second on the same database and driver: the storage's own limit."""
    from shared.db import Database

    db = Database(database_url)
    async with db.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS bench_raw (id INTEGER PRIMARY KEY, body TEXT)"))
    count = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO bench_raw (id, body) VALUES (:id, :body)"),
                                  {"id": count + 1, "body": "x" * 200})
        count += 1
    elapsed = time.perf_counter() - started
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE bench_raw"))
    await db.dispose()
    return count / elapsed


async def raw_publish_rate(nats_url: str, seconds: float = 3.0) -> dict[str, float]:
    """Acked JetStream publishes per second: one at a time, and pipelined (as the relay does)."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(name="BENCH_RAW", subjects=["bench.raw"])
    payload = b"x" * 600
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds / 2:
        await js.publish("bench.raw", payload)
        count += 1
    sequential = count / (time.perf_counter() - started)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds / 2:
        futures = [await js.publish_async("bench.raw", payload) for _ in range(500)]
        await asyncio.gather(*futures)
        count += 500
    pipelined = count / (time.perf_counter() - started)
    await js.delete_stream("BENCH_RAW")
    await nc.close()
    return {"sequential": sequential, "pipelined": pipelined}
