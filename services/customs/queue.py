"""The brokers' queue as a person works it: filters, search, counts per status, waiting times and deadlines.

The console's queue page and its next/previous keys read through here; the API's plain listing stays in
brokers.work_queue. A declaration "needs a broker" in the statuses the status model hands to brokers
(domain.status.BROKER_STATUSES), so the default view follows the status model wherever it goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.customs.brokers import decode_cursor, encode_cursor, summary
from services.customs.domain.status import BROKER_STATUSES, STATUSES
from services.customs.models import Declaration
from services.customs.repository import QueuePosition
from services.customs.repository_search import QueueQuery, QueueSearchRepository
from services.customs.schemas import DeclarationSummary
from services.customs.service import CustomsConfig, id_number_key
from shared.contract.events import CustomsStatus, Lane
from shared.contract.parcel import Channel
from shared.errors import invalid_input_from, validation_errors

# "Waited at least": the age filter's choices.
AGES: dict[str, timedelta] = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "24h": timedelta(hours=24),
                              "3d": timedelta(days=3)}
AgeChoice = Literal["1h", "4h", "24h", "3d"]


def work_statuses() -> tuple[str, ...]:
    """The statuses in which a broker has something to do, in the status model's order."""
    return tuple(status for status in STATUSES if status in BROKER_STATUSES)


class QueueFilters(BaseModel):
    """What a broker asks the queue for (the console's query string); every field has a harmless default."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    state: Literal["work", "all"] | CustomsStatus = "work"
    channel: Channel | None = None
    lane: Lane | None = None
    mine: bool = False
    age: AgeChoice | None = None
    q: Annotated[str, Field(max_length=128)] | None = None

    @field_validator("channel", "lane", "age", "q", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @classmethod
    def parse(cls, params: dict[str, str]) -> QueueFilters:
        """From query parameters; raises InvalidInput naming the parameter at fault."""
        try:
            return cls.model_validate(params)
        except ValidationError as exc:
            raise invalid_input_from(validation_errors(list(exc.errors()))) from None

    def query_params(self) -> dict[str, str]:
        """The non-default filters, for links that keep the broker's place."""
        values = {"state": self.state if self.state != "work" else None, "channel": self.channel,
                  "lane": self.lane, "mine": "1" if self.mine else None, "age": self.age, "q": self.q}
        return {key: value for key, value in values.items() if value}


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue: the API's summary plus how long it has waited and whether it is past its deadline."""

    declaration: DeclarationSummary
    waited: timedelta
    deadline_at: datetime
    overdue: bool


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    counts: dict[str, int]  # per status, under every filter but the status
    needs_broker: int  # how many of those are in a status a broker works
    next_cursor: str | None


def deadline_of(declaration: Declaration, *, queue_deadline: timedelta) -> datetime:
    """By when a person should have acted: the documents deadline while documents are awaited, else the queue's."""
    if declaration.awaiting_documents and declaration.documents_deadline_at is not None:
        return declaration.documents_deadline_at
    return declaration.opened_at + queue_deadline


def _query(filters: QueueFilters, *, broker: str, now: datetime) -> QueueQuery:
    if filters.state == "work":
        statuses: tuple[str, ...] | None = work_statuses()
    elif filters.state == "all":
        statuses = None
    else:
        statuses = (filters.state,)
    search = filters.q
    return QueueQuery(
        statuses=statuses, channel=filters.channel, lane=filters.lane,
        claimed_by=broker if filters.mine else None, now=now,
        opened_before=now - AGES[filters.age] if filters.age else None,
        search=search, buyer_keys=(id_number_key(search),) if search else (),
    )


def queue_row(declaration: Declaration, *, now: datetime, queue_deadline: timedelta) -> QueueRow:
    deadline = deadline_of(declaration, queue_deadline=queue_deadline)
    waiting = declaration.needs_broker
    return QueueRow(declaration=summary(declaration, now), waited=max(now - declaration.opened_at, timedelta()),
                    deadline_at=deadline, overdue=waiting and now > deadline)


async def search_queue(repo: QueueSearchRepository, config: CustomsConfig, *, filters: QueueFilters, broker: str,
                       starting_after: str | None, limit: int, queue_deadline: timedelta) -> QueuePage:
    """One page of the queue (green lane first, then oldest), the counts per status, and the next page's cursor."""
    now = config.now()
    query = _query(filters, broker=broker, now=now)
    after = decode_cursor(starting_after) if starting_after else None
    found = await repo.page(query, after=after, limit=limit + 1)
    page = found[:limit]
    counts = await repo.counts_by_status(query)
    work = set(work_statuses())
    return QueuePage(
        rows=[queue_row(d, now=now, queue_deadline=queue_deadline) for d in page],
        counts=counts, needs_broker=sum(n for status, n in counts.items() if status in work),
        next_cursor=encode_cursor(page[-1]) if len(found) > limit else None,
    )


async def neighbours(repo: QueueSearchRepository, config: CustomsConfig, *, filters: QueueFilters, broker: str,
                     declaration: Declaration) -> tuple[str | None, str | None]:
    """The declarations before and after this one in the broker's queue (next/previous keys)."""
    position = QueuePosition(declaration.lane_rank, declaration.opened_at, declaration.id)
    return await repo.neighbours(_query(filters, broker=broker, now=config.now()), position)
