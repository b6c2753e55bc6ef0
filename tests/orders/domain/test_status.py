"""The merchant-facing order status machine and the timeline titles."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.orders.domain.status import (
    EVENT_TARGETS,
    INITIAL_STATUS,
    JOURNEY,
    STATUSES,
    TRACKING_TARGETS,
    apply_event,
    can_cancel,
    is_terminal,
    timeline_title,
)
from shared.contract.events import (
    ALL_EVENTS,
    DeclarationCancellationRefused,
    DeclarationCancelled,
    DeclarationFiled,
    DeclarationHeld,
    DeclarationRejected,
    DeclarationReleased,
    DeclarationReturned,
    OrderAccepted,
    OrderCancelled,
    OrderReturnRequested,
    ParcelDelivered,
    ParcelHandedOff,
    ParcelTracking,
    PaymentRecorded,
    WaybillIssued,
    WaybillRecorded,
    WaybillVoided,
)

FILED = DeclarationFiled.event_type()
HELD = DeclarationHeld.event_type()
RELEASED = DeclarationReleased.event_type()
REJECTED = DeclarationRejected.event_type()
DECL_CANCELLED = DeclarationCancelled.event_type()
REFUSED = DeclarationCancellationRefused.event_type()
ISSUED = WaybillIssued.event_type()
VOIDED = WaybillVoided.event_type()
HANDED_OFF = ParcelHandedOff.event_type()
TRACKING = ParcelTracking.event_type()
DELIVERED = ParcelDelivered.event_type()
ORDER_CANCELLED = OrderCancelled.event_type()
TERMINAL = ["delivered", "rejected", "cancelled", "returned"]


def run(*events: str | tuple[str, str], status: str = INITIAL_STATUS) -> str:
    """Apply events in order; a (TRACKING, tracking_status) tuple carries its canonical status."""
    for event in events:
        event_type, tracking_status = event if isinstance(event, tuple) else (event, None)
        status = apply_event(status, event_type, tracking_status=tracking_status)
    return status


def test_happy_path_through_the_whole_journey() -> None:
    steps = [
        (ISSUED, "accepted"),
        (FILED, "awaiting_clearance"),
        (HELD, "on_hold"),
        (RELEASED, "released"),
        (HANDED_OFF, "handed_off"),
        ((TRACKING, "in_transit"), "in_transit"),
        ((TRACKING, "out_for_delivery"), "in_transit"),
        (DELIVERED, "delivered"),
    ]
    status = INITIAL_STATUS
    for event, expected in steps:
        status = run(event, status=status)
        assert status == expected


def test_with_customs_an_order_goes_between_on_hold_and_awaiting_clearance() -> None:
    """A broker answers the hold and files the declaration; the authority's review holds it again; both show."""
    assert run(FILED, status="on_hold") == "awaiting_clearance"
    assert run(HELD, status="awaiting_clearance") == "on_hold"
    assert run(RELEASED, status="on_hold") == "released"


@pytest.mark.parametrize(
    ("status", "late_event"),
    [
        ("released", FILED),
        ("released", HELD),
        ("delivered", ISSUED),
        ("delivered", FILED),
        ("delivered", RELEASED),
        ("delivered", HANDED_OFF),
        ("in_transit", HANDED_OFF),
        ("in_transit", RELEASED),
        ("handed_off", RELEASED),
        ("delivered", (TRACKING, "in_transit")),
        ("returned", DELIVERED),
        ("returned", (TRACKING, "delivered")),
    ],
)
def test_a_late_event_never_moves_an_order_back(status: str, late_event: str | tuple[str, str]) -> None:
    assert run(late_event, status=status) == status


def test_events_out_of_order_end_where_the_furthest_one_points() -> None:
    assert run(RELEASED, FILED, ISSUED, HELD) == "released"
    assert run(HANDED_OFF, RELEASED, FILED) == "handed_off"
    assert run(DELIVERED, (TRACKING, "in_transit"), HANDED_OFF, RELEASED) == "delivered"


def test_waybill_issued_and_payment_recorded_keep_the_status() -> None:
    for status in STATUSES:
        assert apply_event(status, ISSUED) == status
        assert apply_event(status, PaymentRecorded.event_type()) == status
        assert apply_event(status, REFUSED) == status


def test_redelivered_events_are_idempotent() -> None:
    assert run(FILED, FILED, HELD, HELD, RELEASED, RELEASED) == "released"


@pytest.mark.parametrize(
    ("tracking_status", "expected"),
    [
        ("pre_transit", "handed_off"),
        ("in_transit", "in_transit"),
        ("held_by_customs", "in_transit"),
        ("out_for_delivery", "in_transit"),
        ("delivery_failed", "in_transit"),
        ("delivered", "delivered"),
        ("returned", "returned"),
        ("unknown", "handed_off"),
        (None, "handed_off"),
    ],
)
def test_tracking_moves_by_its_canonical_status(tracking_status: str | None, expected: str) -> None:
    assert apply_event("handed_off", TRACKING, tracking_status=tracking_status) == expected


def test_tracking_targets_cover_every_canonical_tracking_status() -> None:
    assert set(TRACKING_TARGETS) == set(ParcelTracking.model_fields["status"].annotation.__args__)


def test_returned_may_follow_delivered_but_not_the_reverse() -> None:
    assert run((TRACKING, "returned"), status="delivered") == "returned"
    assert run(DELIVERED, status="returned") == "returned"


RETURN_REQUESTED = OrderReturnRequested.event_type()
DECL_RETURNED = DeclarationReturned.event_type()


@pytest.mark.parametrize("status", ["handed_off", "in_transit", "delivered"])
def test_a_requested_return_follows_the_handoff_and_customs_approval_returns_the_order(status: str) -> None:
    assert run(RETURN_REQUESTED, status=status) == "return_requested"
    assert run(RETURN_REQUESTED, DECL_RETURNED, status=status) == "returned"


def test_nothing_on_the_way_moves_a_requested_return_back() -> None:
    for late in (DELIVERED, (TRACKING, "in_transit"), HANDED_OFF, RELEASED, ORDER_CANCELLED, REJECTED):
        assert run(late, status="return_requested") == "return_requested"
    assert run((TRACKING, "returned"), status="return_requested") == "returned"
    assert run(RETURN_REQUESTED, status="returned") == "returned"


@pytest.mark.parametrize("status", TERMINAL)
@pytest.mark.parametrize(
    "event", [FILED, HELD, RELEASED, REJECTED, DECL_CANCELLED, VOIDED, ORDER_CANCELLED, HANDED_OFF]
)
def test_terminal_statuses_stay(status: str, event: str) -> None:
    assert apply_event(status, event) == status


@pytest.mark.parametrize("cancel_event", [ORDER_CANCELLED, DECL_CANCELLED])
@pytest.mark.parametrize("status", JOURNEY)
def test_cancellation_only_before_handoff(cancel_event: str, status: str) -> None:
    expected = "cancelled" if status in {"accepted", "awaiting_clearance", "on_hold", "released"} else status
    assert apply_event(status, cancel_event) == expected


@pytest.mark.parametrize("status", JOURNEY)
def test_rejection_only_before_release(status: str) -> None:
    expected = "rejected" if status in {"accepted", "awaiting_clearance", "on_hold"} else status
    assert apply_event(status, REJECTED) == expected


def test_rejection_then_voided_waybill_stays_rejected() -> None:
    assert run(FILED, REJECTED, VOIDED, DECL_CANCELLED) == "rejected"


def test_a_voided_waybill_that_overtakes_its_rejection_leaves_the_rejection_to_decide() -> None:
    # The void (postal's stream) can be recorded before the rejection that caused it (customs' stream).
    assert run(FILED, HELD, VOIDED) == "on_hold"
    assert run(FILED, HELD, VOIDED, REJECTED) == "rejected"


@pytest.mark.parametrize("status", JOURNEY)
def test_a_voided_waybill_never_moves_the_status(status: str) -> None:
    assert apply_event(status, VOIDED) == status


def test_cancelled_order_stays_cancelled_when_customs_refuses_or_the_parcel_moves() -> None:
    assert run(RELEASED, ORDER_CANCELLED, REFUSED, HANDED_OFF, DELIVERED) == "cancelled"


def test_unknown_event_type_leaves_the_status_alone() -> None:
    assert apply_event("released", "silkgate.postal.something.new.v1") == "released"
    assert apply_event("released", "silkgate.customs.declaration.released.v2") == "released"


def test_unknown_status_is_an_error() -> None:
    with pytest.raises(ValueError):
        apply_event("shipped", FILED)
    with pytest.raises(ValueError):
        can_cancel("shipped")
    with pytest.raises(ValueError):
        is_terminal("shipped")


def test_the_journey_and_the_ends_make_up_every_status() -> None:
    assert STATUSES == set(JOURNEY) | {"rejected", "cancelled"}
    assert "return_requested" in JOURNEY


def test_every_contract_event_has_a_known_effect() -> None:
    # A .v2 is recorded under its first version's type (Event.first_version_type).
    assert {cls.first_version_type() for cls in ALL_EVENTS} == set(EVENT_TARGETS) | {TRACKING}


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_can_cancel_and_is_terminal(status: str) -> None:
    assert can_cancel(status) == (status in {"accepted", "awaiting_clearance", "on_hold", "released"})
    assert is_terminal(status) == (status in TERMINAL)
    assert not (can_cancel(status) and is_terminal(status))


# ── timeline ──────────────────────────────────────────────────────────────────

NOW = datetime(2026, 3, 1, 10, 15, tzinfo=UTC)
DECL = {"declaration_id": "D1", "order_id": "O1", "channel": "mail", "ceb_code": 120, "occurred_at": NOW}
TITLES = [
    (
        WaybillIssued(
            order_id="O1",
            merchant_order_no="MAIL-1",
            tracking_number="RR287043775IN",
            channel="mail",
            carrier="CNPOST",
            consignee={"name": "A", "phone": "123", "address": "x", "country": "KZ"},
            issued_at=NOW,
        ),
        "Tracking number RR287043775IN issued",
    ),
    (
        DeclarationFiled(**DECL, status="accepted", form="CN23", value_cny=Decimal("128.05")),
        "Customs declaration filed (CN23)",
    ),
    (
        DeclarationFiled(**DECL, status="accepted", form="inventory_list", trade_mode="9610", value_cny=Decimal(1)),
        "Customs declaration filed (e-commerce inventory list, trade mode 9610)",
    ),
    (DeclarationHeld(**DECL, status="manual_review", reason="value looks low"), "Held by customs: value looks low"),
    (DeclarationReleased(**DECL, status="released", form="CN23", value_cny=Decimal(1)), "Released by customs"),
    (
        DeclarationReleased(**DECL, status="released", form="x", value_cny=Decimal(1), tax_cny=Decimal("17.8")),
        "Released by customs, tax 17.80 CNY",
    ),
    (
        DeclarationRejected(**DECL, status="rejected", reason="prohibited goods", reason_code="prohibited"),
        "Rejected by customs: prohibited goods",
    ),
    (DeclarationCancelled(**DECL, status="cancelled"), "Customs declaration cancelled"),
    (
        DeclarationCancellationRefused(**DECL, status="released", reason="already released"),
        "Customs kept the release and refused to cancel the declaration: already released",
    ),
    (
        WaybillVoided(order_id="O1", tracking_number="RR287043775IN", reason="order cancelled", voided_at=NOW),
        "Tracking number RR287043775IN voided: order cancelled",
    ),
    (
        ParcelHandedOff(
            order_id="O1", tracking_number="T", carrier="DHL", receptacle_id="R", dispatch_id="D", handed_off_at=NOW
        ),
        "Handed off to the carrier DHL",
    ),
    (
        ParcelTracking(
            order_id="O1",
            tracking_number="T",
            code="EMD",
            status="in_transit",
            description="Arrived at inward office of exchange",
            location="Almaty",
            occurred_at=NOW,
        ),
        "In transit: Arrived at inward office of exchange (Almaty)",
    ),
    (
        ParcelTracking(order_id="O1", tracking_number="T", code="EMH", status="delivery_failed", occurred_at=NOW),
        "Delivery attempt failed",
    ),
    (ParcelDelivered(order_id="O1", tracking_number="T", delivered_at=NOW, location="Almaty"), "Delivered at Almaty"),
    (
        OrderCancelled(order_id="O1", merchant_code="M", reason="buyer changed mind", cancelled_at=NOW),
        "Order cancelled: buyer changed mind",
    ),
    (
        PaymentRecorded(
            order_id="O1",
            merchant_code="M",
            payment={
                "payer_name": "W",
                "provider": "Alipay",
                "transaction_id": "T1",
                "amount": "208.51",
                "currency": "CNY",
                "paid_at": NOW,
            },
        ),
        "Payment of 208.51 CNY recorded via Alipay",
    ),
    (
        WaybillRecorded(order_id="O1", merchant_code="M", merchant_order_no="E-1", logistics_code="YTO",
                        logistics_name="YTO Express", logistics_no="YT1234567890",
                        consignee={"name": "A", "phone": "123", "address": "x", "country": "CN"}, recorded_at=NOW),
        "Waybill YT1234567890 recorded by YTO Express",
    ),
    (
        OrderReturnRequested(order_id="O1", merchant_code="M", reason="wrong size", requested_at=NOW),
        "Return requested: wrong size",
    ),
    (
        DeclarationReturned(**{**DECL, "ceb_code": 700}, reason="approved", quota_restored_cny=Decimal("208.51")),
        "Return approved by customs: approved",
    ),
]


@pytest.mark.parametrize(("event", "title"), TITLES, ids=[type(event).__name__ for event, _ in TITLES])
def test_timeline_title_from_a_json_payload(event: object, title: str) -> None:
    assert timeline_title(type(event).event_type(), event.model_dump(mode="json")) == title  # type: ignore[attr-defined]


def test_timeline_title_from_a_python_payload() -> None:
    event = DeclarationReleased(**DECL, status="released", form="x", value_cny=Decimal(1), tax_cny=Decimal(3))
    assert timeline_title(RELEASED, event.model_dump()) == "Released by customs, tax 3.00 CNY"


def test_order_accepted_title_names_the_merchant_order() -> None:
    data = {"order_id": "O1", "parcel": {"merchant_order_no": "ECOM-1"}}
    assert timeline_title(OrderAccepted.event_type(), data) == "Order ECOM-1 accepted"


def test_timeline_title_copes_with_a_sparse_or_unknown_payload() -> None:
    assert timeline_title(HELD, {}) == "Held by customs"
    assert timeline_title(TRACKING, {"status": "teleported"}) == "Tracking update"
    assert timeline_title(PaymentRecorded.event_type(), {}) == "Payment recorded"
    assert timeline_title("silkgate.postal.something.new.v1", {}) == "Event silkgate.postal.something.new.v1"


def test_every_contract_event_has_a_timeline_title() -> None:
    for cls in ALL_EVENTS:
        assert not timeline_title(cls.first_version_type(), {}).startswith("Event ")
