"""Async database access for SQLite (embedded) and PostgreSQL (production) from one code path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both engines (SQLite stores naive text; we re-attach UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; silkgate stores UTC-aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def bucketed(values: Sequence[T]) -> list[T]:
    """The values for an `IN (...)` of many, padded to one of a few lengths by repeating the last one.

    An IN list is rendered with one parameter per value, so every length is another SQL text: on PostgreSQL another
    prepared statement (a round trip and a parse and plan) each time a batch's size changes. Repeats change nothing
    in an IN; with lengths 1, 2, 4 … 256, then multiples of 256, a hot statement keeps a handful of texts.
    """
    items = list(values)
    if not items:
        return items
    size = 1
    while size < len(items) and size < 256:
        size *= 2
    if len(items) > size:
        size = -(-len(items) // 256) * 256
    return items + [items[-1]] * (size - len(items))


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_base(metadata: MetaData) -> type[DeclarativeBase]:
    """A declarative base over a service's own metadata."""

    class Base(DeclarativeBase):
        pass

    Base.metadata = metadata
    Base.registry.metadata = metadata
    return Base


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    """WAL, foreign keys, a busy timeout, and BEGIN IMMEDIATE so writers queue instead of failing.

    pysqlite/aiosqlite otherwise manage transactions themselves and break SAVEPOINT; the documented
    recipe is to disable that and emit BEGIN ourselves.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Read-only sessions take a deferred transaction so they never queue behind writers.
        read_only = conn.get_execution_options().get("silkgate_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def json_text(value: Any) -> str:
    """A JSON column's value as text, through orjson: every service writes a few JSON columns per event (the
    parcel, documents, timeline entries), and the standard library took ~13 µs for a parcel where orjson takes ~1.
    Keys that are not strings are written as strings, as json.dumps does. What orjson refuses — an integer beyond
    64 bits, a lone surrogate in a string (both can come in a partner's JSON) — is written by json.dumps, as before."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


class Database:
    """One engine and session factory per service process."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10, busy_timeout_ms: int = 30000) -> None:
        self.url = url
        self.sqlite = is_sqlite(url)
        # Statement parameters are parcels' data: an error message or an echoed statement must never carry them.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True, "json_serializer": json_text}
        if self.sqlite:
            database = make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": busy_timeout_ms / 1000}
        else:
            # No pre-ping: with asyncpg it costs three round trips (BEGIN, a ping, ROLLBACK) on every checkout, more
            # than a consumer batch's own statements. A connection found dead fails its transaction once (503 to a
            # request, a redelivery to a consumer) and invalidates the whole pool, so the next checkout reconnects.
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.sqlite:
            _configure_sqlite(self.engine, busy_timeout_ms)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        # SQLite has one writer at a time. Writers of this process queue here and wake the moment the lock is free;
        # left to SQLite's busy handler they would poll with sleeps of up to 100 ms and leave the file idle.
        self._sqlite_writer = asyncio.Lock() if self.sqlite else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """The boundary: one session, one transaction, committed once on success, rolled back on error."""
        if self._sqlite_writer is None:
            async with self.sessionmaker() as session:
                async with session.begin():
                    yield session
            return
        async with self._sqlite_writer:
            async with self.sessionmaker() as session:
                async with session.begin():
                    yield session

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only; nothing is committed."""
        async with self.engine.connect() as conn:
            # On PostgreSQL a read needs no BEGIN/ROLLBACK round trips: under READ COMMITTED every statement takes
            # its own snapshot inside a transaction too, so autocommit reads see exactly the same.
            options = {} if self.sqlite else {"isolation_level": "AUTOCOMMIT"}
            conn = await conn.execution_options(silkgate_read_only=True, **options)
            async with self.sessionmaker(bind=conn) as session:
                yield session

    async def analyze_new_tables(self, min_rows: int = 1000) -> list[str]:
        """PostgreSQL: ANALYZE tables that have rows but no statistics yet; returns their names.

        Autovacuum takes a new table's first statistics only on its next round (a minute or more away); until
        then the planner guesses, and for the inbox look-up (a consumer and a list of event ids) it guessed a scan
        of every row of the consumer per batch: 95 ms a batch after a few thousand events, growing with the table.
        Statistics taken once the table holds data keep the plans right as it grows (row counts scale with size).
        """
        if self.sqlite:
            return []
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            names = (await conn.execute(text(
                "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NULL AND last_autoanalyze IS NULL "
                "AND n_live_tup >= :min_rows"), {"min_rows": min_rows})).scalars().all()
            for name in names:
                await conn.execute(text(f'ANALYZE "{name}"'))
        return list(names)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
