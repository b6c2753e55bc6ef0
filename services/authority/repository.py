"""Every query of the sandbox authority."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.authority.models import cases, messages, receipts
from shared.db import bucketed

LIVE_STATES = ("open", "awaiting_review", "awaiting_inspection", "released", "detained")


async def find_message(session: AsyncSession, message_id: str) -> Any:
    return (await session.execute(select(messages).where(messages.c.message_id == message_id))).first()


# The statements run for every message or delivery round are built once (building one costs about as much as
# running it; SQLAlchemy caches their compiled form either way).
_FIND_MESSAGES = select(messages.c.message_id, messages.c.kind, messages.c.body_sha256, messages.c.answer_status,
                        messages.c.answer).where(messages.c.message_id.in_(bindparam("ids", expanding=True)))
_LIVE_DECLARATIONS = (select(cases.c.cop_no).distinct()
                      .where(cases.c.cop_no.in_(bindparam("cop_nos", expanding=True)),
                             cases.c.state.in_(LIVE_STATES)))
_SET_BODY = (update(receipts).where(receipts.c.id == bindparam("receipt_id"), receipts.c.body.is_(None))
             .values(body=bindparam("signed")))
_DELIVERED = (update(receipts).where(receipts.c.id.in_(bindparam("ids", expanding=True)),
                                     receipts.c.state == "planned")
              .values(state="delivered", delivered_at=bindparam("now"), attempts=receipts.c.attempts + 1,
                      last_error=None))
_POSTPONE = (update(receipts).where(receipts.c.id == bindparam("receipt_id"))
             .values(next_try_at=bindparam("until"), last_error=bindparam("error"),
                     attempts=receipts.c.attempts + 1))


async def find_messages(session: AsyncSession, message_ids: Sequence[str]) -> list[Any]:
    """The messages already kept under these MessageIds (what a repeat is answered from)."""
    if not message_ids:
        return []
    return list((await session.execute(_FIND_MESSAGES, {"ids": bucketed(sorted(set(message_ids)))})).all())


async def add_messages(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(messages.insert(), rows)


async def add_cases(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(cases.insert(), rows)


async def declarations_with_live_cases(session: AsyncSession, cop_nos: Sequence[str]) -> set[str]:
    """Which of these copNos have a live case (of any kind)."""
    if not cop_nos:
        return set()
    return set((await session.execute(_LIVE_DECLARATIONS, {"cop_nos": bucketed(sorted(set(cop_nos)))}))
               .scalars().all())


async def get_case(session: AsyncSession, guid: str) -> Any:
    return (await session.execute(select(cases).where(cases.c.guid == guid))).first()


async def live_cases(session: AsyncSession, *, cop_no: str, kinds: Sequence[str]) -> list[Any]:
    """The cases of a declaration that a new filing, a cancel or a return acts on, newest first."""
    query = (select(cases).where(cases.c.cop_no == cop_no, cases.c.kind.in_(list(kinds)),
                                 cases.c.state.in_(LIVE_STATES))
             .order_by(cases.c.created_at.desc()))
    return list((await session.execute(query)).all())


async def set_case_state(session: AsyncSession, guid: str, *, state: str, now: datetime) -> None:
    await session.execute(update(cases).where(cases.c.guid == guid).values(state=state, updated_at=now))


async def withdraw_pending(session: AsyncSession, case_guid: str) -> int:
    """Receipts of a case not sent yet are not sent any more (a re-filing or a cancel replaced the case)."""
    result = await session.execute(update(receipts).where(receipts.c.case_guid == case_guid,
                                                          receipts.c.state == "planned").values(state="withdrawn"))
    return result.rowcount or 0


async def last_step(session: AsyncSession, case_guid: str) -> tuple[int, datetime | None]:
    """The highest sequence number of a case's receipts and the latest due time."""
    row = (await session.execute(select(func.max(receipts.c.seq), func.max(receipts.c.due_at))
                                 .where(receipts.c.case_guid == case_guid))).one()
    return (row[0] or 0, row[1])


async def add_receipts(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(receipts.insert(), rows)


async def due_receipts(session: AsyncSession, *, now: datetime, limit: int) -> list[Any]:
    """Planned receipts that are due, each only once every earlier receipt of its case has gone: a case's
    receipts reach customs in order even when one of them has to be retried."""
    return list((await session.execute(_due_query(limit), {"now": now})).all())


@cache
def _due_query(limit: int) -> Select:
    earlier = aliased(receipts)
    blocked = exists().where(and_(earlier.c.case_guid == receipts.c.case_guid, earlier.c.seq < receipts.c.seq,
                                  earlier.c.state == "planned"))
    case_columns = [column for column in cases.c if column.name not in ("state", "created_at", "updated_at")]
    now = bindparam("now", type_=receipts.c.due_at.type)
    return (
        select(receipts, *case_columns)
        .join(cases, cases.c.guid == receipts.c.case_guid)
        .where(receipts.c.state == "planned", receipts.c.due_at <= now, receipts.c.next_try_at <= now, ~blocked)
        .order_by(receipts.c.due_at, receipts.c.id)
        .limit(limit)
    )


async def set_bodies(session: AsyncSession, bodies: dict[int, bytes]) -> None:
    """Keep each receipt's signed bytes made at its first attempt (one statement, run for each receipt)."""
    if bodies:
        await session.execute(_SET_BODY, [{"receipt_id": receipt_id, "signed": body}
                                          for receipt_id, body in bodies.items()])


async def mark_delivered(session: AsyncSession, receipt_ids: list[int], *, now: datetime) -> None:
    if receipt_ids:
        await session.execute(_DELIVERED, {"ids": bucketed(receipt_ids), "now": now})


async def postpone(session: AsyncSession, failures: list[tuple[int, datetime, str]]) -> None:
    """(receipt id, next try, error) for each receipt customs did not take."""
    if failures:
        await session.execute(_POSTPONE, [{"receipt_id": receipt_id, "until": until, "error": error[:2000]}
                                          for receipt_id, until, error in failures])


async def list_messages(session: AsyncSession, *, cop_no: str | None, result: str | None, limit: int) -> list[Any]:
    query = select(messages.c.id, messages.c.message_id, messages.c.kind, messages.c.cop_no, messages.c.received_at,
                   messages.c.result, messages.c.problem_code, messages.c.answer_status)
    if cop_no:
        query = query.where(messages.c.cop_no == cop_no)
    if result:
        query = query.where(messages.c.result == result)
    return list((await session.execute(query.order_by(messages.c.id.desc()).limit(limit))).all())


async def get_message(session: AsyncSession, message_id: str) -> Any:
    return await find_message(session, message_id)


async def list_receipts(session: AsyncSession, *, case_guid: str | None, cop_no: str | None, state: str | None,
                        limit: int) -> list[Any]:
    query = select(receipts, cases.c.cop_no, cases.c.receipt_type, cases.c.kind).join(
        cases, cases.c.guid == receipts.c.case_guid)
    if case_guid:
        query = query.where(receipts.c.case_guid == case_guid)
    if cop_no:
        query = query.where(cases.c.cop_no == cop_no)
    if state:
        query = query.where(receipts.c.state == state)
    return list((await session.execute(query.order_by(receipts.c.id).limit(limit))).all())
