"""One code path for SQLite and PostgreSQL: UTC-aware datetimes, WAL, foreign keys, savepoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import JSON, Column, ForeignKey, Integer, String, Table, select, text
from sqlalchemy.exc import IntegrityError

from shared.db import Database, UTCDateTime, bucketed, json_text, new_metadata
from tests.support import eventually

metadata = new_metadata()
parents = Table("parents", metadata, Column("id", Integer, primary_key=True), Column("at", UTCDateTime()))
children = Table("children", metadata, Column("id", Integer, primary_key=True),
                 Column("parent_id", Integer, ForeignKey("parents.id"), nullable=False), Column("name", String(10)))

documents = Table("documents", metadata, Column("id", Integer, primary_key=True), Column("body", JSON))


@pytest.fixture
async def db(database_provider):
    database = Database(await database_provider.url_for("dbtest", metadata))
    yield database
    await database.dispose()


async def test_datetimes_come_back_utc_aware_whatever_zone_went_in(db):
    tokyo = datetime(2026, 11, 21, 15, 0, tzinfo=timezone(timedelta(hours=9)))
    async with db.transaction() as session:
        await session.execute(parents.insert().values(id=1, at=tokyo))
    async with db.reader() as session:
        stored = (await session.execute(select(parents.c.at))).scalar_one()
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored == datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


async def test_naive_datetimes_are_refused(db):
    with pytest.raises(Exception, match="naive"):
        async with db.transaction() as session:
            await session.execute(parents.insert().values(id=2, at=datetime(2026, 1, 1)))


async def test_foreign_keys_are_enforced(db):
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await session.execute(children.insert().values(id=1, parent_id=999, name="orphan"))


async def test_a_failed_savepoint_keeps_the_rest_of_the_transaction(db):
    async with db.transaction() as session:
        await session.execute(parents.insert().values(id=10, at=datetime.now(UTC)))
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                await session.execute(parents.insert().values(id=10, at=datetime.now(UTC)))
        await session.execute(parents.insert().values(id=11, at=datetime.now(UTC)))
    async with db.reader() as session:
        assert (await session.execute(select(parents.c.id).order_by(parents.c.id))).scalars().all() == [10, 11]


async def test_embedded_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}")
    try:
        async with database.reader() as session:
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            assert (await session.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
    finally:
        await database.dispose()


def test_bucketed_pads_an_in_list_to_a_few_lengths_by_repeating_the_last_value():
    assert bucketed([]) == []
    assert bucketed(["a"]) == ["a"]
    assert bucketed(["a", "b", "c"]) == ["a", "b", "c", "c"]
    assert [len(bucketed(list(range(n)))) for n in (5, 9, 200, 256, 257, 600)] == [8, 16, 256, 256, 512, 768]
    assert set(bucketed(list(range(37)))) == set(range(37))  # nothing added, nothing lost


async def test_tables_with_rows_but_no_statistics_get_analyzed_once(db):
    async with db.transaction() as session:
        await session.execute(parents.insert(), [{"id": n, "at": datetime.now(UTC)} for n in range(1, 1201)])
        if not db.sqlite:
            await session.execute(text("SELECT pg_stat_force_next_flush()"))  # row counts reach the views at commit
    if db.sqlite:
        assert await db.analyze_new_tables() == []  # SQLite's planner needs no statistics for these look-ups
        return
    analyzed = await eventually(db.analyze_new_tables, timeout=5)
    assert analyzed == ["parents"]
    assert await db.analyze_new_tables() == []


def test_json_text_writes_what_orjson_refuses_as_json_dumps_did():
    import json

    assert json.loads(json_text({"a": [1, "x", None], 2: True})) == {"a": [1, "x", None], "2": True}
    big = {"n": 2**70, "s": "\udb0e"}  # beyond 64 bits; a lone surrogate (orjson refuses both)
    assert json_text(big) == json.dumps(big)


async def test_json_columns_round_trip_through_the_engines_serializer(db):
    body = {"parcel": {"name": "丝巾", "qty": "2"}, "lines": [1, 2.5, None, True], "big": 2**70}
    async with db.transaction() as session:
        await session.execute(documents.insert().values(id=1, body=body))
    async with db.reader() as session:
        assert (await session.execute(select(documents.c.body))).scalar_one() == body
