"""Many rows in one statement (shared.bulk): the same rows as a plain insert or update would write, typed columns
included, in one statement on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import JSON, Boolean, Column, Integer, Numeric, String, Table, select

from shared.bulk import insert_many, insert_new, update_many
from shared.db import Database, UTCDateTime, new_metadata
from tests.support import record_statements

metadata = new_metadata()
parcels = Table(
    "parcels", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("number", String(13), nullable=False, unique=True),
    Column("weight_kg", Numeric(10, 3), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("body", JSON, nullable=False),
    Column("note", String(40)),
    Column("status", String(16), nullable=False, default="issued"),  # a Python-side default the rows leave out
    Column("registered", Boolean, nullable=False, default=False),
)
AT = datetime(2026, 11, 21, 8, 30, tzinfo=UTC)


def rows(count: int) -> list[dict]:
    return [{"number": f"RR{n:09d}CN", "weight_kg": Decimal(f"{n}.125"), "at": AT,
             "body": {"items": [{"sku": f"S{n}", "qty": n}], "gift": n % 2 == 0}, "note": None if n % 3 else "x"}
            for n in range(1, count + 1)]


@pytest.fixture
async def db(database_provider):
    database = Database(await database_provider.url_for("bulktest", metadata))
    yield database
    await database.dispose()


async def stored(db: Database) -> list[dict]:
    async with db.reader() as session:
        result = await session.execute(select(parcels).order_by(parcels.c.number))
        return [dict(row._mapping) for row in result]


async def test_insert_many_writes_every_column_as_given_with_python_defaults_and_server_keys(db):
    statements = record_statements(db.engine)
    async with db.transaction() as session:
        await session.run_sync(insert_many, parcels, rows(150))
    written = await stored(db)
    assert len(written) == 150 and len({row["id"] for row in written}) == 150
    first = written[0]
    assert first["number"] == "RR000000001CN" and first["weight_kg"] == Decimal("1.125") and first["at"] == AT
    assert first["body"] == {"items": [{"sku": "S1", "qty": 1}], "gift": False}
    assert first["note"] is None and written[2]["note"] == "x"
    assert {row["status"] for row in written} == {"issued"} and {row["registered"] for row in written} == {False}
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    if db.engine.dialect.name == "postgresql":
        assert len(inserts) == 1 and "unnest" in inserts[0]


async def test_insert_many_fails_as_a_whole_on_a_duplicate(db):
    async with db.transaction() as session:
        await session.run_sync(insert_many, parcels, rows(3))
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        async with db.transaction() as session:
            await session.run_sync(insert_many, parcels, rows(5))  # 1–3 exist: nothing of the five is written
    assert [row["number"] for row in await stored(db)] == ["RR000000001CN", "RR000000002CN", "RR000000003CN"]


async def test_insert_many_takes_rows_of_different_keys_one_by_one(db):
    mixed = rows(2)
    del mixed[1]["note"]
    async with db.transaction() as session:
        await session.run_sync(insert_many, parcels, mixed)
    assert [row["note"] for row in await stored(db)] == [None, None]


async def test_insert_new_leaves_out_rows_whose_unique_key_is_taken_and_counts_the_rest(db):
    async with db.transaction() as session:
        await session.run_sync(insert_many, parcels, rows(3))
    statements = record_statements(db.engine)
    fresh = rows(5)
    fresh[0] = {**fresh[0], "note": "not written: RR000000001CN is taken"}
    async with db.transaction() as session:
        added = await session.run_sync(insert_new, parcels, fresh + [fresh[4]], ("number",))  # 1–3 taken, 5 twice
    assert added == 2
    written = await stored(db)
    assert [row["number"] for row in written] == [f"RR00000000{n}CN" for n in range(1, 6)]
    assert written[0]["note"] is None and written[4]["body"] == fresh[4]["body"] and written[4]["at"] == AT
    assert {row["status"] for row in written} == {"issued"}
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 1
    if db.engine.dialect.name == "postgresql":
        assert "unnest" in inserts[0] and "ON CONFLICT" in inserts[0]
    async with db.transaction() as session:
        assert await session.run_sync(insert_new, parcels, rows(1), ("number",)) == 0  # one row alone: the same
        assert await session.run_sync(insert_new, parcels, [], ("number",)) == 0


async def test_update_many_sets_each_rows_values_by_key_and_leaves_the_rest(db):
    async with db.transaction() as session:
        await session.run_sync(insert_many, parcels, rows(4))
    statements = record_statements(db.engine)
    async with db.transaction() as session:
        await session.run_sync(update_many, parcels, "number", [
            {"number": "RR000000001CN", "status": "bagged", "at": AT.replace(hour=9), "body": {"new": True}},
            {"number": "RR000000003CN", "status": "voided", "at": AT.replace(hour=10), "body": {"new": False}},
        ])
    written = {row["number"]: row for row in await stored(db)}
    assert written["RR000000001CN"]["status"] == "bagged" and written["RR000000001CN"]["at"] == AT.replace(hour=9)
    assert written["RR000000001CN"]["body"] == {"new": True}
    assert written["RR000000003CN"]["status"] == "voided" and written["RR000000003CN"]["body"] == {"new": False}
    assert written["RR000000002CN"]["status"] == "issued" and written["RR000000004CN"]["at"] == AT
    assert written["RR000000001CN"]["weight_kg"] == Decimal("1.125")  # not in the update: unchanged
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 1
