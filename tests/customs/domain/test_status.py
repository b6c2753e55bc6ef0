"""Customs statuses, CEB receipt codes (DOMAIN.md §5) and broker transitions."""

import pytest

from services.customs.domain.errors import TransitionNotAllowed, UnknownStatus
from services.customs.domain.status import (
    ACTIONS,
    STATUSES,
    TRANSITIONS,
    action_for_decision,
    allowed_actions,
    ceb_code,
    is_final,
    next_status,
    status_for_ceb_code,
)


@pytest.mark.parametrize(
    ("status", "code"),
    [("rejected", 100), ("accepted", 120), ("manual_review", 300), ("review_concluded", 399), ("inspection", 500),
     ("detained", 501), ("released", 800), ("closed", 899), ("cancelled", 899)],
)
def test_ceb_codes(status, code):
    assert ceb_code(status) == code


def test_detention_may_carry_a_reason_code_in_501_to_599():
    assert ceb_code("detained", detention_code=599) == 599
    for bad in (500, 600):
        with pytest.raises(UnknownStatus):
            ceb_code("detained", detention_code=bad)
    with pytest.raises(UnknownStatus):
        ceb_code("released", detention_code=501)


def test_status_for_ceb_code():
    assert status_for_ceb_code(800) == "released" and status_for_ceb_code(899) == "closed"
    assert status_for_ceb_code(501) == status_for_ceb_code(599) == "detained"
    with pytest.raises(UnknownStatus):
        status_for_ceb_code(700)


def test_every_contract_status_has_a_code_and_a_row():
    assert set(TRANSITIONS) == set(STATUSES)
    assert all(isinstance(ceb_code(s), int) for s in STATUSES)


@pytest.mark.parametrize(
    ("current", "action", "expected"),
    [
        ("accepted", "release", "released"),
        ("accepted", "refer_to_review", "manual_review"),
        ("accepted", "inspect", "inspection"),
        ("accepted", "reject", "rejected"),
        ("accepted", "cancel", "cancelled"),
        ("manual_review", "release", "released"),
        ("manual_review", "detain", "detained"),
        ("manual_review", "cancel", "cancelled"),
        ("inspection", "record_inspection_result", "review_concluded"),
        ("inspection", "reject", "rejected"),
        ("review_concluded", "release", "released"),
        ("detained", "release", "released"),
        ("detained", "inspect", "inspection"),
        ("released", "close", "closed"),
    ],
)
def test_allowed_transitions(current, action, expected):
    assert next_status(current, action) == expected


@pytest.mark.parametrize(
    ("current", "action"),
    [
        ("inspection", "release"),  # the inspection result is recorded first
        ("inspection", "cancel"),  # goods under inspection stay with customs
        ("detained", "cancel"),
        ("accepted", "record_inspection_result"),
        ("manual_review", "refer_to_review"),
        ("accepted", "close"),
        ("accepted", "teleport"),
    ],
)
def test_forbidden_transitions(current, action):
    with pytest.raises(TransitionNotAllowed) as caught:
        next_status(current, action)
    assert (caught.value.current, caught.value.action, caught.value.code) == (current, action, "transition_not_allowed")


@pytest.mark.parametrize("final", ["released", "rejected", "cancelled", "closed"])
@pytest.mark.parametrize("action", ["release", "reject", "inspect", "detain", "record_inspection_result", "cancel"])
def test_decisions_are_final_for_broker_actions(final, action):
    # A redelivered event or a second click must never undo a decision.
    assert is_final(final)
    with pytest.raises(TransitionNotAllowed):
        next_status(final, action)


def test_held_statuses_are_not_final():
    assert not any(is_final(s) for s in ("accepted", "manual_review", "review_concluded", "inspection", "detained"))


def test_allowed_actions_and_unknown_status():
    assert allowed_actions("released") == {"close"}
    assert allowed_actions("cancelled") == set()
    assert allowed_actions("accepted") <= set(ACTIONS)
    with pytest.raises(UnknownStatus):
        next_status("lost", "release")
    with pytest.raises(UnknownStatus):
        allowed_actions("lost")


def test_risk_decisions_map_to_actions():
    assert [action_for_decision(d) for d in ("release", "manual_review", "inspection", "reject")] == [
        "release", "refer_to_review", "inspect", "reject"
    ]
    assert next_status("accepted", action_for_decision("manual_review")) == "manual_review"
    with pytest.raises(UnknownStatus):
        action_for_decision("shrug")
