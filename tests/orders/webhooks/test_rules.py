"""Which status change raises which webhook, and the retry schedule: pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.orders.webhooks import rules
from shared.contract.events import (
    DeclarationFiled,
    DeclarationHeld,
    OrderCancelled,
    ParcelDelivered,
    ParcelTracking,
    WaybillIssued,
    WaybillVoided,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(("event", "old", "new", "expected"), [
    (DeclarationFiled, "accepted", "awaiting_clearance", "declaration.filed"),
    (DeclarationHeld, "awaiting_clearance", "on_hold", "declaration.held"),
    (ParcelTracking, "handed_off", "in_transit", "parcel.in_transit"),
    (ParcelTracking, "delivered", "returned", "parcel.returned"),
    (ParcelDelivered, "in_transit", "delivered", "parcel.delivered"),
    (OrderCancelled, "released", "cancelled", "order.cancelled"),
    (WaybillVoided, "accepted", "cancelled", "order.cancelled"),  # postal's compensation cancels the order too
    (ParcelTracking, "in_transit", "in_transit", None),  # another scan on the way: nothing new for the merchant
    (ParcelDelivered, "delivered", "delivered", None),
])
def test_a_status_change_announces_the_new_status(event, old, new, expected):
    assert rules.webhook_event_type(event_type=event.event_type(), old_status=old, new_status=new) == expected


def test_the_first_tracking_number_is_announced_without_a_status_change():
    issued = WaybillIssued.event_type()
    assert rules.webhook_event_type(event_type=issued, old_status="accepted", new_status="accepted",
                                    tracking_assigned=True) == "waybill.issued"
    assert rules.webhook_event_type(event_type=issued, old_status="accepted", new_status="accepted",
                                    tracking_assigned=False) is None


def test_a_hold_whose_reason_changed_is_announced_again():
    held = DeclarationHeld.event_type()
    assert rules.webhook_event_type(event_type=held, old_status="on_hold", new_status="on_hold",
                                    customs_moved=True) == "declaration.held"
    # A late hold after release moves neither the order nor customs: nothing to say.
    assert rules.webhook_event_type(event_type=held, old_status="released", new_status="released",
                                    customs_moved=False) is None


def test_every_status_has_an_event_type_and_every_event_type_is_documented():
    assert set(rules.STATUS_EVENT_TYPES.values()) | {"waybill.issued", rules.STALLED} == set(rules.EVENT_TYPES)


def test_subscriptions_are_normalized_and_unknown_types_named_by_index():
    assert rules.normalize_event_types(["parcel.delivered", "order.accepted", "parcel.delivered"]) == (
        ["order.accepted", "parcel.delivered"], [])
    assert rules.normalize_event_types(["order.accepted", "*"]) == (["*"], [])
    assert rules.normalize_event_types(["order.accepted", "order.shipped"])[1] == [(1, "order.shipped")]
    assert rules.subscribes(["*"], "parcel.delivered")
    assert rules.subscribes(["parcel.delivered"], "parcel.delivered")
    assert not rules.subscribes(["parcel.delivered"], "order.accepted")


def test_retry_delays_double_up_to_the_cap():
    delays = [rules.retry_delay(n, base_s=30, cap_s=3600, jitter=0.25, rand=0.0) for n in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_jitter_shortens_by_at_most_its_fraction_and_delays_still_grow():
    assert rules.retry_delay(3, base_s=30, cap_s=3600, jitter=0.25, rand=1.0) == 90.0
    longest_first = rules.retry_delay(1, base_s=30, cap_s=3600, jitter=0.25, rand=0.0)
    shortest_second = rules.retry_delay(2, base_s=30, cap_s=3600, jitter=0.25, rand=1.0)
    assert shortest_second > longest_first


def test_a_huge_attempt_number_stays_at_the_cap():
    assert rules.retry_delay(10_000, base_s=30, cap_s=3600, jitter=0, rand=0.5) == 3600


def test_retries_stop_at_the_maximum_age_and_the_last_one_waits_for_the_deadline():
    schedule = {"queued_at": T0, "base_s": 3600, "cap_s": 3600, "jitter": 0, "max_age_s": 3 * 86400, "rand": 0}
    assert rules.next_attempt_at(now=T0 + timedelta(minutes=1), attempt=1, **schedule) == T0 + timedelta(minutes=61)
    near_end = T0 + timedelta(days=3) - timedelta(minutes=10)
    assert rules.next_attempt_at(now=near_end, attempt=40, **schedule) == T0 + timedelta(days=3)
    assert rules.next_attempt_at(now=T0 + timedelta(days=3), attempt=41, **schedule) is None


def test_an_endpoint_is_disabled_after_failing_for_the_whole_period():
    assert not rules.should_disable(failing_since=None, now=T0, disable_after_s=86400)
    assert not rules.should_disable(failing_since=T0, now=T0 + timedelta(hours=23), disable_after_s=86400)
    assert rules.should_disable(failing_since=T0, now=T0 + timedelta(hours=24), disable_after_s=86400)


@pytest.mark.parametrize(("status", "success"), [(200, True), (204, True), (299, True), (301, False), (404, False),
                                                 (500, False), (None, False)])
def test_only_2xx_is_a_success(status, success):
    assert rules.is_success(status) is success
