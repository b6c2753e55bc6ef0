"""Intake: accepting orders one at a time or in batches, with Idempotency-Key (Stripe semantics).

- The response of a request that created something is stored under (API key, Idempotency-Key) in the same
  transaction as the orders, so "same key and same body" replays exactly what was answered, and "same key,
  another body" is a 409. Requests that fail validation or conflict store nothing: fix and retry with the key.
- Concurrent duplicates: the idempotency row is inserted first, so its primary key decides; the loser's
  transaction fails on it (IntegrityError), and the boundary runs the use case again, which then replays.
- Before writing, one statement reads what intake needs (repository.intake_lookup): the merchant order numbers
  taken, the stored response, and whether the merchant has webhook endpoints at all. Orders naming an external
  logistics company cost one more: is it a logistics company bound to the merchant.
- The order's `payment` is its claim: it stays in the parcel; the payment document comes from the payment
  provider's own key (payments.py).
- Each accepted order, its first timeline entry and its `order.accepted` outbox row commit together.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders import parties_repository, repository
from services.orders.domain.status import INITIAL_STATUS, timeline_title
from services.orders.domain.validation import DEFAULT_TIME_WINDOW, TimeWindow, validate_parcel
from services.orders.models import Order, OrderEvent
from services.orders.repository import StoredResponse
from services.orders.service import order_detail, order_summary
from services.orders.webhooks import service as webhooks
from shared.auth import Principal
from shared.contract.envelope import Envelope
from shared.contract.events import OrderAccepted
from shared.contract.parcel import Parcel
from shared.db import utcnow
from shared.errors import Conflict, InvalidInput, SilkgateError, invalid_input_from, validation_errors
from shared.outbox import Outbox

log = structlog.get_logger()

ORDERS_PATH = "/v1/orders"
MAX_IDEMPOTENCY_KEY_LENGTH = 255
# A correlation id travels in every envelope (≤ 64 chars) and every log line: anything else gets a fresh one.
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


@dataclass(frozen=True)
class IntakeRequest:
    """Who asks, under which Idempotency-Key, for which request (fingerprint), on which journey (correlation id)."""

    principal: Principal
    idempotency_key: str
    fingerprint: str
    correlation_id: str
    window: TimeWindow = DEFAULT_TIME_WINDOW  # where the times an order carries may lie


@dataclass(frozen=True)
class IntakeResponse:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def new_order_id() -> str:
    return f"ord_{uuid.uuid4().hex[:24]}"


def usable_correlation_id(candidate: str | None) -> str:
    """The caller's correlation id when it fits an envelope, else a new one."""
    return candidate if candidate and _CORRELATION_ID.match(candidate) else uuid.uuid4().hex


def require_idempotency_key(value: str | None) -> str:
    if value is None or not value.strip():
        raise InvalidInput("Send an Idempotency-Key header (any unique string, e.g. a UUID) with every order",
                           code="idempotency_key_required", field="Idempotency-Key")
    if len(value) > MAX_IDEMPOTENCY_KEY_LENGTH or not value.isascii() or not value.isprintable():
        raise InvalidInput(f"An Idempotency-Key is 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters",
                           code="idempotency_key_invalid", field="Idempotency-Key")
    return value


# ── validation ────────────────────────────────────────────────────────────────


def parcel_problem(parcel: Parcel, *, window: TimeWindow = DEFAULT_TIME_WINDOW) -> InvalidInput | None:
    """Every domain rule an order breaks, as one 422 naming each field (None: the parcel is valid)."""
    violations = validate_parcel(parcel, window=window)
    if not violations:
        return None
    return invalid_input_from([{"field": v.field, "code": v.code, "message": v.message} for v in violations])


def parse_parcel(document: Any, *, window: TimeWindow = DEFAULT_TIME_WINDOW) -> Parcel | InvalidInput:
    """A batch item as a parcel, or the 422 it would have got if posted alone."""
    try:
        parcel = Parcel.model_validate(document)
    except ValidationError as exc:
        return invalid_input_from(validation_errors(list(exc.errors())))
    return parcel_problem(parcel, window=window) or parcel


def unbound_company(company: str) -> InvalidInput:
    return InvalidInput(f"{company} is not a logistics company bound to your account (ask us to bind it)",
                        code="logistics_company_not_bound", field="logistics_company",
                        errors=[{"field": "logistics_company", "code": "logistics_company_not_bound",
                                 "message": f"{company} is not a logistics company bound to your account"}])


async def bound_companies(session: AsyncSession, merchant: str, parcels: list[Parcel]) -> set[str]:
    """The logistics companies these parcels name that are bound to the merchant (no query when none names one)."""
    named = {parcel.logistics_company for parcel in parcels if parcel.logistics_company is not None}
    if not named:
        return set()
    return await parties_repository.bound_partners(session, merchant_code=merchant, kind="logistics", codes=named)


# ── idempotency ───────────────────────────────────────────────────────────────


async def stored_response(session: AsyncSession, request: IntakeRequest) -> IntakeResponse | None:
    """The stored response for this request's key, or None; 409 when the key came with another request."""
    stored = await repository.find_idempotency_key(session, api_key_id=request.principal.key_id,
                                                   key=request.idempotency_key)
    if stored is None:
        return None
    return replay(stored, request)


def replay(stored: StoredResponse, request: IntakeRequest) -> IntakeResponse:
    if stored.fingerprint != request.fingerprint:
        raise Conflict("This Idempotency-Key was used with a different request; use a new key for a new request",
                       code="idempotency_key_reuse", field="Idempotency-Key")
    log.info("order.idempotent_replay", idempotency_key=request.idempotency_key)
    return IntakeResponse(stored.response_status, json.loads(stored.response_body), replayed=True)


async def store_response(session: AsyncSession, request: IntakeRequest, status: int, body: dict[str, Any]) -> None:
    await repository.insert_idempotency_key(
        session, api_key_id=request.principal.key_id, key=request.idempotency_key, fingerprint=request.fingerprint,
        response_status=status, response_body=json.dumps(body, separators=(",", ":")), created_at=utcnow(),
    )


async def purge_idempotency_keys(session: AsyncSession, *, older_than_s: float) -> int:
    """Forget stored responses older than the retention; returns how many."""
    return await repository.delete_idempotency_keys_before(session, utcnow() - timedelta(seconds=older_than_s))


# ── one order ─────────────────────────────────────────────────────────────────


async def accept_order(session: AsyncSession, outbox: Outbox, request: IntakeRequest, parcel: Parcel) -> IntakeResponse:
    """Store a valid order with its timeline entry and order.accepted; or replay; or 409."""
    problem = parcel_problem(parcel, window=request.window)
    if problem is not None:
        raise problem
    merchant = request.principal.owner
    lookup = await _lookup(session, request, [parcel.merchant_order_no])
    if lookup.stored is not None:
        return replay(lookup.stored, request)
    if lookup.taken:
        raise duplicate(parcel.merchant_order_no)
    if parcel.logistics_company is not None and not await bound_companies(session, merchant, [parcel]):
        raise unbound_company(parcel.logistics_company)
    order, event, envelope = new_order(merchant, parcel, request.correlation_id, utcnow())
    body = order_detail(order, [event])
    await store_response(session, request, 201, body)
    await _insert(session, outbox, [(order, event, envelope)], webhooks_wanted=lookup.has_webhook_endpoints)
    _log_accepted(order)
    return IntakeResponse(201, body)


async def _lookup(session: AsyncSession, request: IntakeRequest, numbers: list[str]) -> repository.IntakeLookup:
    return await repository.intake_lookup(session, merchant_code=request.principal.owner, numbers=numbers,
                                          api_key_id=request.principal.key_id, key=request.idempotency_key)


def duplicate(merchant_order_no: str) -> Conflict:
    return Conflict(f"Merchant order number {merchant_order_no} already exists", code="duplicate_merchant_order_no",
                    field="merchant_order_no")


def new_order(merchant_code: str, parcel: Parcel, correlation_id: str,
              now: datetime) -> tuple[Order, OrderEvent, Envelope]:
    """A new order (not yet added to the session), its first timeline entry and its order.accepted envelope."""
    order_id = new_order_id()
    accepted = OrderAccepted(order_id=order_id, merchant_code=merchant_code, accepted_at=now, parcel=parcel)
    envelope = Envelope.wrap(accepted, subject=order_id, correlation_id=correlation_id, time=now)
    parcel_json = parcel.model_dump(mode="json")
    order = Order(
        id=order_id, merchant_code=merchant_code, merchant_order_no=parcel.merchant_order_no, channel=parcel.channel,
        direction=parcel.direction, status=INITIAL_STATUS, tracking_number=None, customs_status=None,
        customs_ceb_code=None, status_reason=None, parcel=parcel_json, payment=None,
        correlation_id=correlation_id, created_at=now, updated_at=now, status_changed_at=now,
    )
    event = OrderEvent(
        order_id=order_id, event_id=envelope.id, event_type=envelope.type,
        title=timeline_title(envelope.type, envelope.data), occurred_at=now, recorded_at=now,
        data={"order_id": order_id, "merchant_code": merchant_code, "merchant_order_no": parcel.merchant_order_no},
    )
    return order, event, envelope


async def _insert(session: AsyncSession, outbox: Outbox, accepted: list[tuple[Order, OrderEvent, Envelope]], *,
                  webhooks_wanted: bool) -> None:
    """Insert orders, then their timeline entries, then their outbox rows: a few statements for any count."""
    await repository.insert_orders(session, [_columns(order) for order, _, _ in accepted])
    await repository.insert_order_events(session, [_columns(event) for _, event, _ in accepted])
    await outbox.add_envelopes(session, [envelope for _, _, envelope in accepted])
    # Intake is a status change too (to `accepted`): the merchant's order.accepted webhooks commit with the orders.
    if webhooks_wanted:
        await webhooks.enqueue(session, [(order, "order.accepted", None) for order, _, _ in accepted])


def _columns(entity: Order | OrderEvent) -> dict[str, Any]:
    return {c.key: getattr(entity, c.key) for c in entity.__table__.columns if c.key in entity.__dict__}


def _log_accepted(order: Order, **extra: Any) -> None:
    log.info("order.accepted", order_id=order.id, merchant_code=order.merchant_code,
             merchant_order_no=order.merchant_order_no, channel=order.channel, correlation_id=order.correlation_id,
             **extra)


# ── batches ───────────────────────────────────────────────────────────────────


def prepare_batch(documents: list[Any], *, window: TimeWindow = DEFAULT_TIME_WINDOW) -> list[Parcel | InvalidInput]:
    """Validate every order of a batch on its own (no I/O: runs before the transaction opens)."""
    return [parse_parcel(document, window=window) for document in documents]


async def accept_batch(session: AsyncSession, outbox: Outbox, request: IntakeRequest,
                       prepared: list[Parcel | InvalidInput]) -> IntakeResponse:
    """Store every valid, new order of a batch in this one transaction; a result per order, in input order.

    Each order gets its own correlation id (one per parcel's journey); the batch's is logged with each.
    """
    merchant = request.principal.owner
    lookup = await _lookup(session, request, [p.merchant_order_no for p in prepared if isinstance(p, Parcel)])
    if lookup.stored is not None:
        return replay(lookup.stored, request)
    taken = lookup.taken
    companies = await bound_companies(session, merchant, [p for p in prepared if isinstance(p, Parcel)])
    now = utcnow()
    results: list[dict[str, Any]] = []
    accepted: list[tuple[Order, OrderEvent, Envelope]] = []
    for index, item in enumerate(prepared):
        problem: SilkgateError | None = item if isinstance(item, InvalidInput) else None
        if isinstance(item, Parcel):
            if item.merchant_order_no in taken:
                problem = duplicate(item.merchant_order_no)
            elif item.logistics_company is not None and item.logistics_company not in companies:
                problem = unbound_company(item.logistics_company)
            else:
                taken.add(item.merchant_order_no)  # a later twin in the same batch is a duplicate too
                order, event, envelope = new_order(merchant, item, uuid.uuid4().hex, now)
                accepted.append((order, event, envelope))
                results.append({"index": index, "status": 201, "order": order_summary(order), "problem": None})
                continue
        assert problem is not None
        results.append({"index": index, "status": problem.status, "order": None,
                        "problem": problem.problem(ORDERS_PATH)})
    body = {"created": len(accepted), "failed": len(results) - len(accepted), "results": results}
    await store_response(session, request, 200, body)
    await _insert(session, outbox, accepted, webhooks_wanted=lookup.has_webhook_endpoints)
    for order, _, _ in accepted:
        _log_accepted(order, batch_correlation_id=request.correlation_id)
    log.info("order.batch_accepted", created=body["created"], failed=body["failed"])
    return IntakeResponse(200, body)
