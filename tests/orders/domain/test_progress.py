"""Customs status and status reason: pure rules for what an order shows besides its status."""

from __future__ import annotations

import pytest

from services.orders.domain.progress import customs_status_after, status_reason_after
from shared.contract.events import (
    DeclarationCancellationRefused,
    DeclarationCancelled,
    DeclarationHeld,
    DeclarationRejected,
    DeclarationReleased,
    OrderCancelled,
    ParcelHandedOff,
    WaybillIssued,
    WaybillVoided,
)

HELD = DeclarationHeld.event_type()


@pytest.mark.parametrize(("current", "incoming", "expected"), [
    (None, "accepted", "accepted"),
    (None, "released", "released"),
    ("accepted", "manual_review", "manual_review"),
    ("manual_review", "inspection", "inspection"),  # the held family: latest wins
    ("inspection", "manual_review", "manual_review"),
    ("inspection", "review_concluded", "review_concluded"),
    ("manual_review", "released", "released"),
    ("released", "accepted", "released"),  # a late filing never hides a release
    ("released", "manual_review", "released"),
    ("released", "rejected", "released"),
    ("rejected", "released", "rejected"),
    ("accepted", "cancelled", "cancelled"),
    ("cancelled", "released", "cancelled"),
    ("released", "closed", "closed"),
    ("closed", "released", "closed"),
    ("released", "mystery", "released"),
    ("mystery", "accepted", "accepted"),
])
def test_customs_status_only_moves_forward(current, incoming, expected):
    assert customs_status_after(current, incoming) == expected


def reason(event, old, new, *, reason="why", customs_moved=False, current=None):
    return status_reason_after(event.event_type(), old_status=old, new_status=new, reason=reason,
                               customs_moved=customs_moved, current_reason=current)


def test_a_hold_shows_its_reason_when_it_takes_effect():
    assert reason(DeclarationHeld, "awaiting_clearance", "on_hold") == "why"
    assert reason(DeclarationHeld, "on_hold", "on_hold", customs_moved=True, current="old") == "why"
    assert reason(DeclarationHeld, "released", "released", current=None) is None  # a late hold


def test_a_rejection_shows_its_reason_only_when_it_rejects():
    assert reason(DeclarationRejected, "on_hold", "rejected") == "why"
    assert reason(DeclarationRejected, "released", "released", current=None) is None


def test_cancellations_show_their_reason():
    assert reason(OrderCancelled, "accepted", "cancelled", reason="out of stock") == "out of stock"
    assert reason(OrderCancelled, "accepted", "cancelled", reason="") is None
    assert reason(WaybillVoided, "released", "cancelled", reason="void") == "void"
    assert reason(DeclarationCancelled, "cancelled", "cancelled", reason="c", current="mine") == "mine"


def test_a_refused_cancellation_explains_the_cancelled_order():
    assert reason(DeclarationCancellationRefused, "cancelled", "cancelled", reason="released", current="x") == "released"
    assert reason(DeclarationCancellationRefused, "handed_off", "handed_off", current=None) is None


def test_moving_on_clears_the_reason_and_history_keeps_it():
    assert reason(DeclarationReleased, "on_hold", "released", current="held") is None
    assert reason(ParcelHandedOff, "released", "handed_off", current=None) is None
    assert reason(WaybillIssued, "on_hold", "on_hold", current="held") == "held"
    assert reason(DeclarationReleased, "cancelled", "cancelled", current="refused") == "refused"
