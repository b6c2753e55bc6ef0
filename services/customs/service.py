"""What every customs use case shares: configuration, the clock, status transitions with their audit entry,
and the events each status publishes.

The use cases themselves live by trigger: filing.py (events from orders and postal), brokers.py (the brokers'
API), deadlines.py (the documents-deadline worker). None of them commits; the boundary does.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from services.customs.domain.matching import normalize_id, normalize_phone, normalize_text
from services.customs.domain.policy import CustomsPolicy
from services.customs.domain.status import ceb_code, is_final, next_status
from services.customs.models import Declaration, FindingRecord
from services.customs.repository import DeclarationRepository
from services.customs.settings import CustomsSettings
from shared.consumer import MessageContext
from shared.contract.envelope import Envelope
from shared.contract.events import (
    DeclarationCancelled,
    DeclarationHeld,
    DeclarationRejected,
    DeclarationReleased,
    Event,
    Finding,
)
from shared.contract.parcel import Parcel
from shared.db import utcnow
from shared.outbox import Outbox


@dataclass
class CustomsConfig:
    """The running service's policy and knobs, shared by consumers, API and worker (`runtime.extras`)."""

    policy: CustomsPolicy = field(default_factory=CustomsPolicy)
    claim_ttl: timedelta = timedelta(seconds=900)
    deadline_check_interval_s: float = 5.0
    deadline_batch_size: int = 200
    # Injected so tests can move time (claim expiry, documents deadline) without sleeping.
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def from_settings(cls, settings: CustomsSettings) -> CustomsConfig:
        return cls(policy=settings.customs_policy(), claim_ttl=timedelta(seconds=settings.claim_ttl_s),
                   deadline_check_interval_s=settings.deadline_check_interval_s,
                   deadline_batch_size=settings.deadline_batch_size)

    def now(self) -> datetime:
        return self.clock()

    @property
    def documents_deadline(self) -> timedelta:
        return timedelta(minutes=self.policy.document_deadline_minutes)


@dataclass(frozen=True)
class Actor:
    """Who changes a declaration: the system (consumers, worker) or a broker (by name, with the key's id)."""

    name: str
    role: str
    key_id: str | None = None


SYSTEM = Actor("system", "system")


class StaleDeclaration(Exception):
    """Another transaction changed the declaration between our read and our write; nothing was written."""

    def __init__(self, declaration_id: str) -> None:
        super().__init__(f"declaration {declaration_id} changed concurrently")
        self.declaration_id = declaration_id


class Emitter(Protocol):
    """Adds follow-up events about a declaration to the outbox of the current transaction."""

    async def __call__(self, event: Event, declaration: Declaration) -> None: ...

    async def many(self, events: Sequence[Event], declaration: Declaration) -> None:
        """Several events in one insert, in this order."""


@dataclass
class OutboxEmitter:
    """Correlation and causation come from the event being handled (consumers), else from the declaration, which
    carries the parcel's correlation id (the API and the worker)."""

    outbox: Outbox
    session: AsyncSession
    correlation_id: str | None = None
    causation_id: str | None = None
    emitted: list[Envelope] | None = None  # a consumer's MessageContext.emitted

    async def __call__(self, event: Event, declaration: Declaration) -> None:
        await self.many([event], declaration)

    async def many(self, events: Sequence[Event], declaration: Declaration) -> None:
        if not events:
            return
        correlation_id = self.correlation_id or declaration.correlation_id
        envelopes = [Envelope.wrap(event, subject=declaration.order_id, correlation_id=correlation_id,
                                   causation_id=self.causation_id) for event in events]
        await self.outbox.add_envelopes(self.session, envelopes)
        if self.emitted is not None:
            self.emitted.extend(envelopes)


@dataclass
class HeldEvents:
    """Keeps the events instead: a new declaration's filing publishes them once the declaration is written."""

    events: list[Event] = field(default_factory=list)

    async def __call__(self, event: Event, declaration: Declaration) -> None:
        self.events.append(event)

    async def many(self, events: Sequence[Event], declaration: Declaration) -> None:
        self.events.extend(events)


def context_emitter(ctx: MessageContext) -> Emitter:
    """For consumers: as MessageContext.emit, with correlation and causation from the event being handled."""
    return OutboxEmitter(ctx.outbox, ctx.session, correlation_id=ctx.correlation_id, causation_id=ctx.envelope.id,
                         emitted=ctx.emitted)


def outbox_emitter(outbox: Outbox, session: AsyncSession) -> Emitter:
    """For the API and the worker: the declaration carries the parcel's correlation id."""
    return OutboxEmitter(outbox, session)


def new_declaration_id() -> str:
    return f"dcl_{uuid.uuid4().hex[:24]}"


def buyer_key(parcel: Parcel) -> str:
    """One buyer across parcels: the normalized ID number, else name + phone; hashed (personal data)."""
    buyer = parcel.effective_buyer
    if buyer.id_number:
        return id_number_key(buyer.id_number)
    identity = f"np:{normalize_text(buyer.name)}|{normalize_phone(buyer.phone)}"
    return hashlib.sha256(identity.encode()).hexdigest()


def id_number_key(id_number: str) -> str:
    """The buyer key of a buyer with this ID number (how the console finds a buyer's parcels by ID number)."""
    return hashlib.sha256(f"id:{normalize_id(id_number)}".encode()).hexdigest()


def parcel_of(declaration: Declaration) -> Parcel:
    return Parcel.model_validate(declaration.parcel)


async def transition(
    repo: DeclarationRepository,
    declaration: Declaration,
    *,
    action: str,
    actor: Actor,
    now: datetime,
    reason_code: str | None = None,
    note: str | None = None,
    detention_code: int | None = None,
    values: dict | None = None,
) -> str:
    """Apply an action per status.next_status, write its audit entry, return the new status.

    Raises TransitionNotAllowed (the status forbids it) or StaleDeclaration (someone else changed it first).
    """
    before = declaration.status
    after = next_status(before, action)
    code = ceb_code(after, detention_code=detention_code if after == "detained" else None)
    changes = {"status": after, "ceb_code": code, "awaiting_documents": False, "updated_at": now, **(values or {})}
    if is_final(after):
        # A decided declaration needs no broker any more: the claim ends with the decision.
        changes.update(decided_at=now, decided_by=actor.name, claimed_by=None, claimed_by_key=None,
                       claim_expires_at=None)
    if not await repo.change(declaration, **changes):
        raise StaleDeclaration(declaration.id)
    await repo.append_audit(audit_entry(declaration.id, actor, action=action, from_status=before, to_status=after,
                                        ceb_code=code, reason_code=reason_code, note=note, at=now))
    return after


async def record_action(repo: DeclarationRepository, declaration: Declaration, *, action: str, actor: Actor,
                        now: datetime, reason_code: str | None = None, note: str | None = None) -> None:
    """An audit entry for an action that leaves the status as it is (claim, refused cancellation...)."""
    await repo.append_audit(audit_entry(declaration.id, actor, action=action, from_status=declaration.status,
                                        to_status=declaration.status, ceb_code=declaration.ceb_code,
                                        reason_code=reason_code, note=note, at=now))


async def record_filing(repo: DeclarationRepository, declaration: Declaration, *, now: datetime) -> None:
    """The first audit entry: the declaration entered the customs system (CEB 120)."""
    await repo.append_audit(audit_entry(declaration.id, SYSTEM, action="file", from_status=None,
                                        to_status=declaration.status, ceb_code=declaration.ceb_code, at=now))


def audit_entry(declaration_id: str, actor: Actor, *, action: str, from_status: str | None, to_status: str,
                ceb_code: int, at: datetime, reason_code: str | None = None,
                note: str | None = None) -> dict[str, Any]:
    """The columns of one audit_trail row (its id comes from the database)."""
    return {"declaration_id": declaration_id, "actor": actor.name, "actor_role": actor.role, "key_id": actor.key_id,
            "action": action, "from_status": from_status, "to_status": to_status, "ceb_code": ceb_code,
            "reason_code": reason_code, "note": note, "at": at}


def as_findings(records: Sequence[FindingRecord]) -> list[Finding]:
    return [Finding(code=r.code, severity=r.severity, message=r.message, fields=list(r.fields)) for r in records]


def status_event(declaration: Declaration, *, now: datetime, actor: Actor, reason: str = "",
                 reason_code: str | None = None, findings: Sequence[Finding] = ()) -> Event:
    """The event a declaration's (new) status publishes: released, rejected, cancelled or held."""
    common = dict(declaration_id=declaration.id, order_id=declaration.order_id, channel=declaration.channel,
                  status=declaration.status, ceb_code=declaration.ceb_code, occurred_at=now)
    decided_by = "auto" if actor is SYSTEM else actor.name
    if declaration.status == "released":
        return DeclarationReleased(**common, form=declaration.form or "", value_cny=declaration.value_cny or 0,
                                   tax_cny=declaration.tax_cny or 0, decided_by=decided_by)
    if declaration.status == "rejected":
        return DeclarationRejected(**common, reason=reason[:512] or (reason_code or "rejected"),
                                   reason_code=reason_code or "rejected", findings=list(findings),
                                   decided_by=decided_by)
    if declaration.status == "cancelled":
        return DeclarationCancelled(**common, reason=reason[:512])
    return DeclarationHeld(**common, reason=reason[:512] or declaration.status, lane=declaration.lane,
                           findings=list(findings))


def broker_reason(reason_code: str, note: str | None) -> str:
    return f"{reason_code}: {note}" if note else reason_code
