"""One frozen model per event type and version.

Event names are past tense; each class declares the service that publishes it, its name and
its version, from which the NATS subject `silkgate.<service>.<event>.v<N>` follows.
Additive changes keep the version; a breaking change is a new class with `VERSION = 2`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from shared.contract.parcel import Channel, ContractModel, Money, Parcel, Party, Payment, ShortText

Id = Annotated[str, Field(min_length=1, max_length=64)]

# Merchant-facing lanes in the brokers' queue; "green" is the agricultural priority lane (DOMAIN.md §1).
Lane = Literal["green", "standard"]
# A declaration's status, named after the CEB receipt codes (DOMAIN.md §5) where it has one. Before filing:
# pending_documents, documents_missing, held; filed with the authority: filed, then its receipts (accepted 120,
# manual_review 300, review_concluded 399, inspection 500, detained 5xx, authority_rejected 100, released 800,
# closed 899); rejected (not filed: prohibited, or a broker's rejection); cancellation and return requests and their
# outcomes.
CustomsStatus = Literal[
    "accepted", "manual_review", "review_concluded", "inspection", "detained", "rejected", "released", "closed", "cancelled",
    "pending_documents", "documents_missing", "held", "filed", "authority_rejected", "cancel_requested",
    "return_requested", "returned",
]
# The statuses version 1 of the customs events carries (before the customs authority's receipts existed): the
# .v2 events carry CustomsStatus.
CustomsStatusV1 = Literal[
    "accepted", "manual_review", "review_concluded", "inspection", "detained", "rejected", "released", "closed", "cancelled"
]
# The customs form a declaration is filed on (DOMAIN.md §2): mail CN22/CN23, express category A–D, e-commerce list.
CustomsForm = Literal["CN22", "CN23", "express_A", "express_B", "express_C", "express_D", "inventory_list"]
TrackingStatus = Literal[
    "pre_transit", "in_transit", "held_by_customs", "out_for_delivery", "delivery_failed", "delivered", "returned", "unknown"
]


class Event(ContractModel):
    """Base of every event payload."""

    SERVICE: ClassVar[str]
    NAME: ClassVar[str]
    VERSION: ClassVar[int] = 1

    @classmethod
    def event_type(cls) -> str:
        """The CloudEvents type, which is also the NATS subject."""
        return f"silkgate.{cls.SERVICE}.{cls.NAME}.v{cls.VERSION}"

    @classmethod
    def first_version_type(cls) -> str:
        """The type of the event's first version: a consumer that reads a .v2 as the same fact as its .v1 (a wider
        field, say) keeps one name for both in what it records."""
        return f"silkgate.{cls.SERVICE}.{cls.NAME}.v1"


class Finding(ContractModel):
    """One risk or matching finding on a declaration."""

    code: Annotated[str, Field(min_length=1, max_length=64)]
    severity: Literal["info", "low", "medium", "high", "prohibited"]
    message: Annotated[str, Field(max_length=512)]
    fields: list[str] = []


# ── orders ────────────────────────────────────────────────────────────────────


class OrderAccepted(Event):
    SERVICE = "orders"
    NAME = "order.accepted"

    order_id: Id
    merchant_code: Id
    accepted_at: datetime
    parcel: Parcel


class OrderCancelled(Event):
    SERVICE = "orders"
    NAME = "order.cancelled"

    order_id: Id
    merchant_code: Id
    reason: Annotated[str, Field(max_length=512)] = ""
    cancelled_at: datetime


class PaymentRecorded(Event):
    """The payment document (CEB411), sent by the payment provider with its own key."""

    SERVICE = "orders"
    NAME = "payment.recorded"

    order_id: Id
    merchant_code: Id
    payment: Payment
    provider_code: Id | None = None  # the partner code of the provider's key that sent it


class WaybillRecorded(Event):
    """An external logistics company's waybill (CEB511), sent with its own key: the third document, and the
    parcel's tracking number (postal adopts it instead of issuing one)."""

    SERVICE = "orders"
    NAME = "waybill.recorded"

    order_id: Id
    merchant_code: Id
    merchant_order_no: Id
    logistics_code: Id
    logistics_name: ShortText
    logistics_no: Id  # the tracking number
    consignee: Party
    freight: Money = Decimal("0")
    insured_fee: Money = Decimal("0")
    gross_weight_kg: Annotated[Decimal, Field(gt=0, max_digits=10, decimal_places=3)] | None = None
    recorded_at: datetime


class OrderReturnRequested(Event):
    """The merchant asks for a return of a released parcel (customs files CEB625)."""

    SERVICE = "orders"
    NAME = "order.return_requested"

    order_id: Id
    merchant_code: Id
    reason: Annotated[str, Field(max_length=512)]
    requested_at: datetime


# ── customs ───────────────────────────────────────────────────────────────────


class _DeclarationEvent(Event):
    SERVICE = "customs"

    declaration_id: Id
    order_id: Id
    channel: Channel
    status: CustomsStatusV1
    ceb_code: int
    occurred_at: datetime


class DeclarationFiled(_DeclarationEvent):
    NAME = "declaration.filed"

    form: CustomsForm
    trade_mode: Annotated[str, Field(max_length=4)] | None = None
    lane: Lane = "standard"
    value_cny: Decimal


class DeclarationHeld(_DeclarationEvent):
    NAME = "declaration.held"

    reason: Annotated[str, Field(max_length=512)]
    lane: Lane = "standard"
    findings: list[Finding] = []
    # The form customs chose, once it has (orders prints the CN22/CN23 from it); None: not decided yet.
    form: CustomsForm | None = None


class TaxBillLine(ContractModel):
    """One goods line of an electronic tax bill (CEB816 TaxListRd), in CNY."""

    line_no: Annotated[int, Field(ge=1, le=100)]  # gnum
    hs_code: Annotated[str, Field(min_length=1, max_length=12)]  # gcode
    taxable_value_cny: Money  # taxPrice
    customs_duty_cny: Money = Decimal("0")  # customsTax
    vat_cny: Money = Decimal("0")  # valueAddedTax
    consumption_tax_cny: Money = Decimal("0")  # consumptionTax


class TaxBill(ContractModel):
    """The electronic tax bill customs issues for a cross-border e-commerce import (CEB816 TaxHeadRd), in CNY.

    Taxable value = price + freight + insurance; within the B2C limits duty is 0 and VAT and consumption tax are
    levied at 70% (DOMAIN.md §7). total_cny = customs_duty_cny + vat_cny + consumption_tax_cny.
    """

    tax_no: Annotated[str, Field(min_length=1, max_length=64)] | None = None  # taxNo, the tax bill's number
    invt_no: Annotated[str, Field(min_length=1, max_length=64)] | None = None  # invtNo, the inventory list's number
    taxable_value_cny: Money
    customs_duty_cny: Money = Decimal("0")
    vat_cny: Money = Decimal("0")
    consumption_tax_cny: Money = Decimal("0")
    total_cny: Money
    issued_at: datetime | None = None  # returnTime
    lines: Annotated[list[TaxBillLine], Field(max_length=100)] = []


class DeclarationReleased(_DeclarationEvent):
    NAME = "declaration.released"

    form: Annotated[str, Field(max_length=32)]
    value_cny: Decimal
    tax_cny: Decimal = Decimal("0")
    decided_by: Annotated[str, Field(max_length=64)] = "auto"
    # E-commerce imports: the tax bill's figures (CEB816), when customs has them.
    tax_bill: TaxBill | None = None


class DeclarationRejected(_DeclarationEvent):
    NAME = "declaration.rejected"

    reason: Annotated[str, Field(max_length=512)]
    reason_code: Annotated[str, Field(max_length=64)]
    findings: list[Finding] = []
    decided_by: Annotated[str, Field(max_length=64)] = "auto"


class DeclarationCancelled(_DeclarationEvent):
    NAME = "declaration.cancelled"

    reason: Annotated[str, Field(max_length=512)] = ""


class DeclarationFiledV2(DeclarationFiled):
    """Filed with the customs authority (CEB 2), or its review concluded (399): the status may be any of the
    declaration's statuses since the authority's receipts move it (v1 knew only the statuses before them)."""

    VERSION = 2

    status: CustomsStatus


class DeclarationHeldV2(DeclarationHeld):
    """A person must act: a broker before filing (held, documents_missing), the parties (pending_documents), or a
    broker answering the authority (manual_review 300, inspection 500, detained 5xx, authority_rejected 100)."""

    VERSION = 2

    status: CustomsStatus


class DeclarationCancellationRefused(_DeclarationEvent):
    """An order was cancelled after release: customs keeps the release and says why."""

    NAME = "declaration.cancellation_refused"

    reason: Annotated[str, Field(max_length=512)]


class DeclarationCancellationRefusedV2(DeclarationCancellationRefused):
    """As v1, the status being any of the declaration's (with the authority, under inspection …)."""

    VERSION = 2

    status: CustomsStatus


class DeclarationReturned(_DeclarationEvent):
    """The authority approved the return (CEB625 → 700); within 30 days of release the quota comes back."""

    NAME = "declaration.returned"

    status: Literal["returned"] = "returned"
    quota_restored_cny: Decimal = Decimal("0")
    reason: Annotated[str, Field(max_length=512)] = ""


# ── any service ───────────────────────────────────────────────────────────────


class EventDeadLettered(Event):
    """A consumer of the service gave up on an event about an order and parked it in the dead-letter stream
    (shared.consumer, shared.stall): the order is stalled until an operator replays or drops it."""

    NAME = "event.dead_lettered"

    order_id: Id
    original_type: Annotated[str, Field(min_length=1, max_length=128)]  # the parked event's type (its subject)
    original_id: Id  # the parked event's envelope id
    consumer: Id
    # Why, in a few words without personal data (the exception's type, "unreadable message", "refused"); the
    # dead letter itself carries the full reason for operators.
    reason: Annotated[str, Field(max_length=128)]
    dead_letter_id: int | None = None  # its id in the dead-letter stream (`silkgate dlq show <id>`), when known
    dead_lettered_at: datetime


class CustomsEventDeadLettered(EventDeadLettered):
    SERVICE = "customs"


class PostalEventDeadLettered(EventDeadLettered):
    SERVICE = "postal"


# ── postal ────────────────────────────────────────────────────────────────────


class WaybillIssued(Event):
    SERVICE = "postal"
    NAME = "waybill.issued"

    order_id: Id
    merchant_order_no: Id
    tracking_number: Id
    channel: Channel
    carrier: Id
    consignee: Party
    issued_at: datetime


class WaybillVoided(Event):
    SERVICE = "postal"
    NAME = "waybill.voided"

    order_id: Id
    tracking_number: Id
    reason: Annotated[str, Field(max_length=512)]
    voided_at: datetime


class ParcelHandedOff(Event):
    SERVICE = "postal"
    NAME = "parcel.handed_off"

    order_id: Id
    tracking_number: Id
    carrier: Id
    receptacle_id: Id
    dispatch_id: Id
    handed_off_at: datetime


class ParcelTracking(Event):
    SERVICE = "postal"
    NAME = "parcel.tracking"

    order_id: Id
    tracking_number: Id
    code: Annotated[str, Field(max_length=16)]
    status: TrackingStatus
    description: Annotated[str, Field(max_length=512)] = ""
    location: Annotated[str, Field(max_length=128)] = ""
    occurred_at: datetime


class ParcelDelivered(Event):
    SERVICE = "postal"
    NAME = "parcel.delivered"

    order_id: Id
    tracking_number: Id
    delivered_at: datetime
    location: Annotated[str, Field(max_length=128)] = ""


ALL_EVENTS: tuple[type[Event], ...] = (
    OrderAccepted,
    OrderCancelled,
    PaymentRecorded,
    WaybillRecorded,
    OrderReturnRequested,
    DeclarationFiled,
    DeclarationFiledV2,
    DeclarationHeld,
    DeclarationHeldV2,
    DeclarationReleased,
    DeclarationRejected,
    DeclarationCancelled,
    DeclarationCancellationRefused,
    DeclarationCancellationRefusedV2,
    DeclarationReturned,
    WaybillIssued,
    WaybillVoided,
    ParcelHandedOff,
    ParcelTracking,
    ParcelDelivered,
    CustomsEventDeadLettered,
    PostalEventDeadLettered,
)

EVENTS_BY_TYPE: dict[str, type[Event]] = {cls.event_type(): cls for cls in ALL_EVENTS}
