"""A consumer batch's write-behind (shared.batch): held rows behave as if written at once, in fewer statements."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, ForeignKey, Integer, String, Table, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from shared.batch import close_scope, execute_later, insert_rows, open_scope, scope_of
from shared.db import Database, UTCDateTime, new_metadata
from tests.support import record_statements

metadata = new_metadata()
parents = Table("parents", metadata, Column("id", Integer, primary_key=True), Column("at", UTCDateTime()),
                Column("label", String(10)))
children = Table("children", metadata, Column("id", Integer, primary_key=True),
                 Column("parent_id", Integer, ForeignKey("parents.id"), nullable=False), Column("name", String(10)))
RELABEL = update(parents).where(parents.c.id == bindparam("b_id")).values(label=bindparam("b_label"))
NOW = datetime(2026, 11, 21, tzinfo=UTC)


@pytest.fixture
async def db(database_provider):
    database = Database(await database_provider.url_for("batchtest", metadata))
    yield database
    await database.dispose()


async def test_held_rows_are_written_before_the_next_read_in_one_insert_per_table_parents_first(db):
    statements = record_statements(db.engine)
    async with db.transaction() as session:
        open_scope(session, ["ord_1", "ord_2"])
        for n in range(1, 51):
            # Each child is queued before its parent: the write still puts parents first (foreign keys).
            await insert_rows(session, children, [{"id": n, "parent_id": n, "name": f"c{n}"}])
            await insert_rows(session, parents, [{"id": n, "at": NOW, "label": "new"}])
        assert statements == []  # nothing written yet
        assert (await session.execute(select(func.count()).select_from(children))).scalar_one() == 50
        await close_scope(session)
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 2 and "parents" in inserts[0] and "children" in inserts[1]


async def test_held_statements_run_once_per_statement_after_the_inserts_and_before_the_next_read(db):
    async with db.transaction() as session:
        open_scope(session, ["ord_1"])
        await insert_rows(session, parents, [{"id": n, "at": NOW, "label": "new"} for n in (1, 2, 3)])
        await execute_later(session, RELABEL, {"b_id": 1, "b_label": "one"})
        await execute_later(session, RELABEL, {"b_id": 3, "b_label": "three"})
        labels = (await session.execute(select(parents.c.label).order_by(parents.c.id))).scalars().all()
        assert labels == ["one", "new", "three"]
        await close_scope(session)
    assert scope_of(session) is None


async def test_without_a_scope_rows_are_written_at_once_and_a_failure_surfaces_on_the_spot(db):
    async with db.transaction() as session:
        assert scope_of(session) is None
        await insert_rows(session, parents, [{"id": 7, "at": NOW, "label": "x"}])
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                await insert_rows(session, parents, [{"id": 7, "at": NOW, "label": "again"}])


async def test_a_held_row_that_breaks_a_constraint_fails_the_statement_that_writes_it(db):
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            open_scope(session, ["ord_1"])
            await insert_rows(session, children, [{"id": 1, "parent_id": 999, "name": "orphan"}])
            await session.execute(select(func.count()).select_from(parents))
    async with db.reader() as session:
        assert (await session.execute(select(func.count()).select_from(children))).scalar_one() == 0


def test_unique_subjects_are_the_parcels_with_one_event_in_the_batch():
    from shared.batch import BatchScope

    assert BatchScope.for_subjects(["a", "b", "a", "c"]).unique_subjects == {"b", "c"}
