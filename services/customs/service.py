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
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from services.customs.domain.matching import normalize_id, normalize_phone, normalize_text
from services.customs.domain.policy import CustomsPolicy
from services.customs.domain.status import ceb_code, is_final, needs_broker, next_status
from services.customs.messages.facts import Declarant, DeclarantSettings
from services.customs.models import Declaration, DeclarationLine, FindingRecord
from services.customs.repository import DeclarationRepository
from services.customs.settings import CustomsSettings
from shared.ceb.signing import SigningIdentity, load_certificate
from shared.certificates import ensure_pair
from shared.consumer import MessageContext
from shared.contract.envelope import Envelope
from shared.contract.events import (
    DeclarationCancelled,
    DeclarationFiledV2,
    DeclarationHeldV2,
    DeclarationRejected,
    DeclarationReleased,
    DeclarationReturned,
    Event,
    Finding,
    TaxBill,
)
from shared.contract.parcel import OrderLine, Parcel
from shared.db import utcnow
from shared.outbox import Outbox


@dataclass(frozen=True)
class Signer:
    """Who files (the declarant's codes) and the certificate every message is signed with."""

    declarant: Declarant
    identity: SigningIdentity


@dataclass(frozen=True)
class GatewayConfig:
    """Where and how the gateway files messages with the customs authority (exchange.py)."""

    authority_url: str | None = None  # None: nothing is sent; filings wait, queued
    receiver_id: str | None = None  # None: the single window's import or export receiver, by message
    batch_size: int = 100
    concurrency: int = 8
    idle_interval_s: float = 0.2
    timeout_s: float = 10.0
    backoff_max_s: float = 300.0


@dataclass(frozen=True)
class BackpressureConfig:
    """When customs stops taking new orders because its exchange with the authority is full (backpressure.py)."""

    exchange_backlog_max: int = 2000  # declarations waiting on the authority; 0: never pause
    exchange_backlog_resume: float = 0.8  # resume below this fraction of the bound
    exchange_backlog_poll_s: float = 0.5


@dataclass
class CustomsConfig:
    """The running service's policy and knobs, shared by consumers, API and worker (`runtime.extras`)."""

    policy: CustomsPolicy = field(default_factory=CustomsPolicy)
    # Who files, signing with which certificate; and the authority's certificate, to verify its receipts (None:
    # receipts cannot be taken). Loaded when the service starts (load_credentials), or given by tests.
    signer: Signer | None = None
    authority_certificate: bytes | None = None
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    backpressure: BackpressureConfig = field(default_factory=BackpressureConfig)
    claim_ttl: timedelta = timedelta(seconds=900)
    deadline_check_interval_s: float = 5.0
    deadline_batch_size: int = 200
    # Injected so tests can move time (claim expiry, documents deadline) without sleeping.
    clock: Callable[[], datetime] = utcnow
    settings: CustomsSettings | None = None

    @classmethod
    def from_settings(cls, settings: CustomsSettings) -> CustomsConfig:
        gateway = GatewayConfig(authority_url=settings.authority_url, receiver_id=settings.authority_receiver_id,
                                batch_size=settings.gateway_batch_size, concurrency=settings.gateway_concurrency,
                                idle_interval_s=settings.gateway_idle_interval_s, timeout_s=settings.gateway_timeout_s,
                                backoff_max_s=settings.gateway_backoff_max_s)
        backpressure = BackpressureConfig(exchange_backlog_max=settings.exchange_backlog_max,
                                          exchange_backlog_resume=settings.exchange_backlog_resume,
                                          exchange_backlog_poll_s=settings.exchange_backlog_poll_s)
        return cls(policy=settings.customs_policy(), gateway=gateway, backpressure=backpressure,
                   claim_ttl=timedelta(seconds=settings.claim_ttl_s),
                   deadline_check_interval_s=settings.deadline_check_interval_s,
                   deadline_batch_size=settings.deadline_batch_size, settings=settings)

    def load_credentials(self) -> None:
        """Read the signing certificate and the authority's (at start-up, not while building the app). Without a
        configured one, the filer's certificate is made under the data directory (the embedded mode), so a fresh
        machine can file at once; production configures the certificate issued for the single window."""
        if self.signer is not None or self.settings is None:
            return
        settings = self.settings
        key_file, cert_file, authority_cert_file = settings.certificate_paths()
        if settings.signing_key_file is None and not key_file.exists():
            ensure_pair(key_file.parent, key_file.stem)
        self.signer = Signer(DeclarantSettings(**settings.declarant).declarant(),
                             SigningIdentity.from_files(key_file, cert_file))
        if authority_cert_file.exists():
            self.authority_certificate = load_certificate(authority_cert_file)

    @property
    def filer(self) -> Signer:
        """The signer; filing without one is a configuration error, said plainly."""
        if self.signer is None:
            raise RuntimeError("customs has no signing certificate loaded (CustomsConfig.load_credentials)")
        return self.signer

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
AUTHORITY = Actor("customs authority", "authority")


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


def order_lines(rows: Sequence[DeclarationLine]) -> list[OrderLine]:
    """The declaration's current lines (a broker may have amended them) as the contract's order lines."""
    return [OrderLine(line_no=r.line_no, sku=r.sku, name=r.name, hs_code=r.hs_code, quantity=r.quantity, unit=r.unit,
                      unit_price=r.unit_price, total_price=r.total_price, currency=r.currency,
                      origin_country=r.origin_country, net_weight_kg=r.net_weight_kg) for r in rows]


async def transition(
    repo: DeclarationRepository,
    declaration: Declaration,
    *,
    action: str,
    actor: Actor,
    now: datetime,
    reason_code: str | None = None,
    note: str | None = None,
    code: int | None = None,
    to_status: str | None = None,
    values: dict | None = None,
) -> str:
    """Apply an action per status.next_status (or move to `to_status`: a receipt, status.after_receipt), write its
    audit entry, return the new status. `code` is the CEB code to keep (a receipt's), else the status's own.

    Raises TransitionNotAllowed (the status forbids it) or StaleDeclaration (someone else changed it first).
    """
    before = declaration.status
    after = to_status if to_status is not None else next_status(before, action)
    code = ceb_code(after) if code is None else code
    changes = {"status": after, "ceb_code": code, "awaiting_documents": after == "pending_documents",
               "needs_broker": needs_broker(after), "updated_at": now, **(values or {})}
    if is_final(after):
        changes.update(decided_at=now, decided_by=actor.name)
    if not changes["needs_broker"]:
        # The declaration leaves the brokers' hands (filed, answered, decided): the claim ends with it.
        changes.update(claimed_by=None, claimed_by_key=None, claim_expires_at=None)
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


async def record_opening(repo: DeclarationRepository, declaration: Declaration, *, now: datetime) -> None:
    """The first audit entry: the declaration was opened from the order (saved, not yet filed)."""
    await repo.append_audit(audit_entry(declaration.id, SYSTEM, action="open", from_status=None,
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
                 reason_code: str | None = None, findings: Sequence[Finding] = (),
                 tax_bill: TaxBill | None = None) -> Event | None:
    """The event a declaration's (new) status publishes, or None when the other services follow nothing there
    (the authority's acknowledgements 2/120, requests sent on, a closed filing)."""
    status = declaration.status
    common = dict(declaration_id=declaration.id, order_id=declaration.order_id, channel=declaration.channel,
                  status=status, ceb_code=declaration.ceb_code, occurred_at=now)
    decided_by = "auto" if actor is SYSTEM else actor.name
    if status == "released":
        return DeclarationReleased(**common, form=declaration.form or "", value_cny=declaration.value_cny or 0,
                                   tax_cny=declaration.tax_cny or 0, decided_by=decided_by, tax_bill=tax_bill)
    if status == "rejected":
        return DeclarationRejected(**common, reason=reason[:512] or (reason_code or "rejected"),
                                   reason_code=reason_code or "rejected", findings=list(findings),
                                   decided_by=decided_by)
    if status == "cancelled":
        return DeclarationCancelled(**common, reason=reason[:512])
    if status == "returned":
        return DeclarationReturned(**common, reason=reason[:512],
                                   quota_restored_cny=Decimal(declaration.quota_reserved_fen or 0) / 100
                                   if reason_code == "quota_restored" else Decimal(0))
    if status in ("filed", "review_concluded"):
        return DeclarationFiledV2(**common, form=declaration.form or "inventory_list",
                                  trade_mode=declaration.trade_mode, lane=declaration.lane,
                                  value_cny=declaration.value_cny or 0)
    if status in HELD_STATUSES:
        return DeclarationHeldV2(**common, reason=reason[:512] or status, lane=declaration.lane,
                                 findings=list(findings), form=declaration.form)
    return None


# Statuses the order shows as on hold: a person (broker or parties) has to act.
HELD_STATUSES = frozenset({"held", "documents_missing", "pending_documents", "manual_review", "inspection",
                           "detained", "authority_rejected"})


def broker_reason(reason_code: str, note: str | None) -> str:
    return f"{reason_code}: {note}" if note else reason_code
