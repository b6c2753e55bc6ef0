"""The machine's raw limits, measured in the same run as the pipeline: what the storage, the broker and Python can do
at best, so the pipeline's figures can be read as ratios of them.

- concurrent single-row transactions/s: PostgreSQL through asyncpg with 16 and 32 connections, each inserting one row
  per transaction (autocommit); SQLite in WAL mode (synchronous=NORMAL, as the services run it) with its one writer;
- batched rows/s: PostgreSQL COPY and INSERT … SELECT unnest(…) of 1,000 rows; SQLite executemany of 1,000 rows per
  transaction;
- the Python floor: CPU to decode, validate and re-encode one real event with the contract's models (what any
  consumer must spend at least once per event it handles).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import asyncpg
from sqlalchemy import make_url

ROW = "x" * 200
BATCH = 1000


def asyncpg_connect_args(database_url: str) -> dict:
    """asyncpg.connect keywords from a SQLAlchemy URL (a Unix socket directory given as ?host=… included)."""
    url = make_url(database_url)
    args = {"user": url.username, "database": url.database, "host": url.host or url.query.get("host"),
            "port": url.port or 5432}
    if url.password:
        args["password"] = url.password
    return args


async def postgres_limits(database_url: str, seconds: float = 3.0) -> dict:
    args = asyncpg_connect_args(database_url)
    admin = await asyncpg.connect(**args)
    await admin.execute("DROP TABLE IF EXISTS bench_limits; "
                        "CREATE TABLE bench_limits (id bigserial PRIMARY KEY, body text NOT NULL)")
    result: dict = {"concurrent_tx_per_s": {}, "batched_rows_per_s": {}}
    try:
        for connections in (16, 32):
            result["concurrent_tx_per_s"][str(connections)] = round(
                await _concurrent_inserts(args, connections, seconds), 1)
        rows = [(ROW,)] * BATCH
        result["batched_rows_per_s"]["copy"] = round(await _batched(
            lambda: admin.copy_records_to_table("bench_limits", records=rows, columns=["body"]), seconds), 1)
        bodies = [ROW] * BATCH
        result["batched_rows_per_s"]["unnest"] = round(await _batched(
            lambda: admin.execute("INSERT INTO bench_limits (body) SELECT unnest($1::text[])", bodies), seconds), 1)
    finally:
        await admin.execute("DROP TABLE IF EXISTS bench_limits")
        await admin.close()
    return result


async def _concurrent_inserts(args: dict, connections: int, seconds: float) -> float:
    conns = await asyncio.gather(*(asyncpg.connect(**args) for _ in range(connections)))
    count = 0
    deadline = time.perf_counter() + seconds

    async def insert_loop(conn) -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            await conn.execute("INSERT INTO bench_limits (body) VALUES ($1)", ROW)  # autocommit: one transaction
            count += 1

    started = time.perf_counter()
    await asyncio.gather(*(insert_loop(conn) for conn in conns))
    elapsed = time.perf_counter() - started
    await asyncio.gather(*(conn.close() for conn in conns))
    return count / elapsed


async def _batched(insert_batch, seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        await insert_batch()
        count += BATCH
    return count / (time.perf_counter() - started)


def sqlite_limits(path: Path, seconds: float = 3.0) -> dict:
    """One writer (SQLite has no other): single-row transactions/s and executemany rows/s, WAL, synchronous=NORMAL."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE IF NOT EXISTS bench_limits (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO bench_limits (body) VALUES (?)", (ROW,))
            conn.execute("COMMIT")
            count += 1
        single = count / (time.perf_counter() - started)
        rows = [(ROW,)] * BATCH
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO bench_limits (body) VALUES (?)", rows)
            conn.execute("COMMIT")
            count += BATCH
        batched = count / (time.perf_counter() - started)
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return {"concurrent_tx_per_s": {"1 (one writer)": round(single, 1)},
            "batched_rows_per_s": {"executemany": round(batched, 1)}}


def python_floor(raw_events: dict[str, bytes], repeat: int = 2000) -> dict:
    """CPU ms to decode + validate + re-encode one event with the contract's models, per event type seen, and their
    mean: Envelope.from_bytes, envelope.event(), Envelope.wrap(event).to_bytes()."""
    from shared.contract.envelope import Envelope

    floors: dict[str, float] = {}
    for event_type, raw in raw_events.items():
        started = time.process_time()
        for _ in range(repeat):
            envelope = Envelope.from_bytes(raw)
            event = envelope.event()
            Envelope.wrap(event, subject=envelope.subject, correlation_id=envelope.correlation_id,
                          causation_id=envelope.id).to_bytes()
        floors[event_type] = round((time.process_time() - started) * 1000 / repeat, 4)
    mean = round(sum(floors.values()) / len(floors), 4) if floors else None
    return {"ms_per_event": floors, "mean_ms_per_event": mean}
