"""Declaration statuses, broker actions, and what the authority's receipts do (DOMAIN.md §5, §11)."""

import pytest

from services.customs.domain.errors import TransitionNotAllowed, UnknownStatus
from services.customs.domain.status import (
    ACTIONS,
    STATUSES,
    TRANSITIONS,
    after_receipt,
    allowed_actions,
    broker_actions,
    ceb_code,
    is_final,
    needs_broker,
    next_status,
    status_for_code,
    supersedes,
)


def test_every_contract_status_has_a_code_and_a_row():
    assert set(TRANSITIONS) == set(STATUSES)
    assert all(isinstance(ceb_code(s), int) for s in STATUSES)
    assert ceb_code("filed") == 2 and ceb_code("released") == 800 and ceb_code("held") == 1


def test_no_action_releases_goods():
    """Only the authority's 800 releases: no action of anyone leads to released."""
    assert all(target != "released" for moves in TRANSITIONS.values() for target in moves.values())


@pytest.mark.parametrize(
    ("current", "action", "expected"),
    [
        ("pending_documents", "file", "filed"),
        ("pending_documents", "hold", "held"),
        ("pending_documents", "documents_overdue", "documents_missing"),
        ("pending_documents", "reject", "rejected"),
        ("documents_missing", "request_documents", "pending_documents"),
        ("documents_missing", "reject", "rejected"),
        ("documents_missing", "cancel", "cancelled"),
        ("held", "amend", "held"),
        ("held", "file", "filed"),
        ("authority_rejected", "amend", "authority_rejected"),
        ("authority_rejected", "file", "filed"),
        ("manual_review", "answer", "manual_review"),
        ("inspection", "record_inspection", "inspection"),
        ("filed", "request_cancel", "cancel_requested"),
        ("released", "request_return", "return_requested"),
    ],
)
def test_allowed_transitions(current, action, expected):
    assert next_status(current, action) == expected


@pytest.mark.parametrize(
    ("current", "action"),
    [
        ("documents_missing", "file"),  # never filed without its documents
        ("pending_documents", "amend"),
        ("filed", "file"),
        ("inspection", "request_cancel"),  # goods under inspection stay with customs
        ("detained", "request_cancel"),
        ("released", "reject"),
        ("rejected", "file"),
        ("cancelled", "file"),
        ("returned", "request_return"),
        ("held", "not_an_action"),
    ],
)
def test_forbidden_transitions(current, action):
    with pytest.raises(TransitionNotAllowed):
        next_status(current, action)


def test_unknown_status():
    with pytest.raises(UnknownStatus):
        allowed_actions("lost")
    with pytest.raises(UnknownStatus):
        next_status("lost", "file")


def test_final_statuses_allow_no_broker_action():
    for status in ("rejected", "cancelled", "returned"):
        assert is_final(status) and allowed_actions(status) == frozenset()
    assert broker_actions("released", needs_broker=False) == []


def test_a_broker_answers_once_then_waits_for_the_authority():
    assert broker_actions("manual_review", needs_broker=True) == ["answer"]
    assert broker_actions("manual_review", needs_broker=False) == []
    assert broker_actions("held", needs_broker=True) == ["amend", "file", "reject", "cancel"]
    assert needs_broker("held") and needs_broker("documents_missing") and not needs_broker("filed")
    assert set(ACTIONS) >= {"amend", "file", "answer", "record_inspection"}


def test_codes_map_to_statuses():
    assert status_for_code(120) == "accepted" and status_for_code(800) == "released"
    assert status_for_code(501) == status_for_code(599) == "detained"
    assert status_for_code(100) == "authority_rejected" and status_for_code(-3) == "authority_rejected"
    assert status_for_code(2) is None and status_for_code(3) is None


@pytest.mark.parametrize(
    ("incoming", "current", "moves"),
    [
        ((120, "20260301100000000"), None, True),
        ((120, "20260301100000000"), (120, "20260301100000000"), False),  # the same receipt twice
        ((2, "20260301095959000"), (120, "20260301100000000"), False),  # late: older than what applied
        ((300, "20260301100100000"), (120, "20260301100000000"), True),
        ((500, "20260301100200000"), (300, "20260301100100000"), True),  # review turns into an inspection
        ((399, "20260301100300000"), (500, "20260301100200000"), True),
        ((800, "20260301090000000"), (120, "20260301100000000"), True),  # a final wins even when stamped earlier
        ((120, "20260301110000000"), (800, "20260301100000000"), False),  # nothing intermediate after a final
        ((100, "20260301110000000"), (800, "20260301100000000"), False),  # a weaker final never replaces release
        ((800, "20260301110000000"), (100, "20260301100000000"), True),  # released after a rejection: stronger
        ((899, "20260302000000000"), (800, "20260301100000000"), True),
    ],
)
def test_receipts_move_forward_only(incoming, current, moves):
    assert supersedes(incoming, current) is moves


def test_what_a_receipt_does_by_the_message_it_answers():
    assert after_receipt("filed", purpose="declaration", code=120) == "accepted"
    assert after_receipt("accepted", purpose="declaration", code=800) == "released"
    assert after_receipt("released", purpose="declaration", code=899) == "closed"
    assert after_receipt("released", purpose="declaration", code=300) is None
    assert after_receipt("filed", purpose="order", code=100) == "authority_rejected"
    assert after_receipt("filed", purpose="order", code=120) is None
    assert after_receipt("cancel_requested", purpose="declaration", code=300) is None  # waiting for the cancel
    assert after_receipt("cancel_requested", purpose="declaration", code=800) == "released"  # release overtook it
    assert after_receipt("cancel_requested", purpose="cancel", code=899) == "cancelled"
    assert after_receipt("return_requested", purpose="return", code=700) == "returned"
    assert after_receipt("held", purpose="declaration", code=800) is None  # never filed: nothing to release
