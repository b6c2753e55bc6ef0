"""Payments from payment providers (CEB411): the payment document of the three-document match.

A provider's key (role `payment`, owner = its partner code) records the payment of an order of a merchant bound to
it; for any other order — another merchant's, a missing one — the answer is 404, the same either way, so a key learns
nothing about orders that are not its business. The answer is a receipt (ids, amount, status), never the order.
The same payment sent again (same provider, same document) answers 200 with the same receipt; another payment for
a paid order is a 409. Whether the amount agrees with the order's (±1 CNY) is customs' match, not ours.

One code path serves one payment and a batch: the orders are read and locked in one statement, the payments,
timeline entries, order updates and outbox rows written in one statement each. Nothing here commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders import parties_repository as repository
from services.orders import repository as orders_repository
from services.orders.domain.documents import PartnerView, payment_violations, same_payment
from services.orders.domain.validation import TimeWindow
from services.orders.parties_repository import PayableOrder
from services.orders.recording import timeline_entry
from services.orders.schemas import PaymentBatchItem, PaymentReceipt
from shared.contract.envelope import Envelope
from shared.contract.events import PaymentRecorded
from shared.contract.parcel import Payment
from shared.errors import Conflict, InvalidInput, NotFound, SilkgateError, invalid_input_from, validation_errors
from shared.outbox import Outbox

log = structlog.get_logger()

UNPAYABLE_STATUSES = frozenset({"cancelled", "rejected"})


@dataclass(frozen=True)
class PaymentItem:
    """One payment to record: for an order, or the problem its body already has (422)."""

    order_id: str | None
    payment: Payment | None = None
    problem: SilkgateError | None = None


@dataclass(frozen=True)
class PaymentOutcome:
    """201 recorded now, 200 recorded before (the same payment), or a problem (404, 409, 422)."""

    status: int
    receipt: dict[str, Any] | None = None
    problem: SilkgateError | None = None


def new_payment_id() -> str:
    return f"pay_{uuid.uuid4().hex[:24]}"


def parse_items(documents: list[Any], *, prefix: str = "payment.") -> list[PaymentItem]:
    """Batch items as payments, or the 422 each would have got alone (no I/O: before the transaction opens)."""
    items = []
    for document in documents:
        order_id = document.get("order_id") if isinstance(document, dict) else None
        try:
            item = PaymentBatchItem.model_validate(document)
        except ValidationError as exc:
            problem = invalid_input_from(validation_errors(list(exc.errors())))
            items.append(PaymentItem(order_id if isinstance(order_id, str) else None, problem=problem))
            continue
        items.append(PaymentItem(item.order_id, item.payment))
    return items


def receipt(payment_id: str, order_id: str, provider_code: str, payment: Payment,
            recorded_at: datetime) -> dict[str, Any]:
    return PaymentReceipt(id=payment_id, order_id=order_id, provider=provider_code,
                          transaction_id=payment.transaction_id, amount=payment.amount, currency=payment.currency,
                          status="recorded", recorded_at=recorded_at).model_dump(mode="json")


def _body_problem(payment: Payment, provider: PartnerView, *, now: datetime, window: TimeWindow,
                  prefix: str) -> InvalidInput | None:
    violations = payment_violations(payment, provider=provider, now=now, window=window)
    if not violations:
        return None
    return invalid_input_from([{"field": prefix + v.field, "code": v.code, "message": v.message}
                               for v in violations])


def not_found(order_id: str | None) -> NotFound:
    return NotFound(f"No order {order_id}", code="order_not_found")


async def record_payments(session: AsyncSession, outbox: Outbox, *, provider: PartnerView | None,
                          items: list[PaymentItem], now: datetime, window: TimeWindow,
                          prefix: str = "payment.") -> list[PaymentOutcome]:
    """Record each payment of its order, in input order; one outcome per item. `provider` None: the key acts for
    no registered, active payment provider, so every order is unknown to it."""
    orders: dict[str, PayableOrder] = {}
    if provider is not None:
        wanted = [item.order_id for item in items if item.problem is None and item.order_id]
        orders = await repository.lock_payable_orders(session, partner_code=provider.code, order_ids=wanted)
    writes = _Writes(now=now)
    outcomes = []
    for item in items:
        if item.problem is not None:
            outcomes.append(PaymentOutcome(item.problem.status, problem=item.problem))
            continue
        order = orders.get(item.order_id or "")
        if provider is None or order is None:
            outcomes.append(PaymentOutcome(404, problem=not_found(item.order_id)))
            continue
        assert item.payment is not None
        problem = _body_problem(item.payment, provider, now=now, window=window, prefix=prefix)
        outcomes.append(PaymentOutcome(problem.status, problem=problem) if problem is not None
                        else writes.record(order, item.payment, provider))
        orders[order.id] = writes.recorded.get(order.id, order)
    await writes.flush(session, outbox)
    return outcomes


@dataclass
class _Writes:
    """The payments a request records, written together."""

    now: datetime
    recorded: dict[str, PayableOrder] = field(default_factory=dict)  # the orders paid by this request, as they end
    payments: list[dict[str, Any]] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)

    def record(self, order: PayableOrder, payment: Payment, provider: PartnerView) -> PaymentOutcome:
        if order.payment_id is not None:
            return self._again(order, payment, provider)
        if order.status in UNPAYABLE_STATUSES:
            return PaymentOutcome(409, problem=Conflict(f"Order {order.id} is {order.status}: nothing to pay for",
                                                        code="order_not_payable"))
        payment_id = new_payment_id()
        document = payment.model_dump(mode="json")
        event = PaymentRecorded(order_id=order.id, merchant_code=order.merchant_code, payment=payment,
                                provider_code=provider.code)
        envelope = Envelope.wrap(event, subject=order.id, correlation_id=order.correlation_id, time=self.now)
        self.payments.append({"id": payment_id, "order_id": order.id, "provider_code": provider.code,
                              "transaction_id": payment.transaction_id, "amount": payment.amount,
                              "currency": payment.currency, "document": document, "recorded_at": self.now})
        self.envelopes.append(envelope)
        self.entries.append(timeline_entry(order.id, event, envelope.id, now=self.now, occurred_at=self.now))
        self.updates.append({"id": order.id, "payment": document, "updated_at": self.now})
        self.recorded[order.id] = order._replace(payment_id=payment_id, provider_code=provider.code,
                                                 document=document, recorded_at=self.now)
        log.info("payment.recorded", order_id=order.id, payment_id=payment_id, provider_code=provider.code,
                 correlation_id=order.correlation_id)
        return PaymentOutcome(201, receipt=receipt(payment_id, order.id, provider.code, payment, self.now))

    @staticmethod
    def _again(order: PayableOrder, payment: Payment, provider: PartnerView) -> PaymentOutcome:
        """The order is paid: the same payment again is a retry (200, the same receipt); anything else a 409."""
        assert order.payment_id is not None and order.document is not None and order.recorded_at is not None
        recorded = Payment.model_validate(order.document)
        if order.provider_code == provider.code and same_payment(recorded, payment):
            log.info("payment.repeated", order_id=order.id, payment_id=order.payment_id)
            return PaymentOutcome(200, receipt=receipt(order.payment_id, order.id, provider.code, recorded,
                                                       order.recorded_at))
        return PaymentOutcome(409, problem=Conflict(f"Order {order.id} already has a payment",
                                                    code="payment_already_recorded"))

    async def flush(self, session: AsyncSession, outbox: Outbox) -> None:
        if not self.payments:
            return
        await repository.insert_payments(session, self.payments)
        await orders_repository.insert_order_events(session, self.entries)
        await repository.set_orders_payment(session, self.updates)
        await outbox.add_envelopes(session, self.envelopes)


def summarize(outcomes: list[PaymentOutcome], items: list[PaymentItem], instance: str) -> dict[str, Any]:
    """The batch answer: counts and one result per item, in input order."""
    results = [{"index": index, "order_id": item.order_id, "status": outcome.status, "payment": outcome.receipt,
                "problem": outcome.problem.problem(instance) if outcome.problem is not None else None}
               for index, (item, outcome) in enumerate(zip(items, outcomes, strict=True))]
    return {"recorded": sum(o.status == 201 for o in outcomes), "replayed": sum(o.status == 200 for o in outcomes),
            "failed": sum(o.status >= 400 for o in outcomes), "results": results}
