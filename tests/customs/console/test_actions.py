"""The action registry: which actions a declaration offers, and how a submitted form becomes their values."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.customs.console.actions import ACTIONS, action_panel, read_form, read_lines
from services.customs.domain.status import STATUSES, broker_actions
from shared.errors import InvalidInput


def test_every_action_the_status_model_allows_a_broker_is_in_the_registry():
    allowed = {action for status in STATUSES for action in broker_actions(status, needs_broker=True)}
    assert allowed <= set(ACTIONS)  # nothing a broker may do is missing from the console


def test_the_panel_follows_allowed_actions_and_the_claim():
    panel = action_panel(["amend", "file", "reject", "cancel"], final=False, held_by_me=False, held_by_other=False)
    assert panel.claim.name == "claim"
    assert [a.name for a in panel.actions] == ["file", "amend", "cancel", "reject"]  # forward action first
    assert panel.unavailable == []
    mine = action_panel(["answer"], final=False, held_by_me=True, held_by_other=False)
    assert mine.claim.name == "unclaim" and [a.name for a in mine.actions] == ["answer"]
    theirs = action_panel(["file"], final=False, held_by_me=False, held_by_other=True)
    assert theirs.claim is None
    final = action_panel([], final=True, held_by_me=False, held_by_other=False)
    assert final.claim is None and final.actions == []
    # An action the model allows but the console does not know yet is named, not hidden.
    future = action_panel(["file", "escalate"], final=False, held_by_me=True, held_by_other=False)
    assert future.unavailable == ["escalate"] and [a.name for a in future.actions] == ["file"]


def test_no_action_releases_goods():
    assert "release" not in ACTIONS and "inspect" not in ACTIONS and "detain" not in ACTIONS


def test_a_form_becomes_the_actions_values():
    values = read_form(ACTIONS["record_inspection"], {
        "attended_by": " Li Wei ", "attended_at": "2026-03-01T09:30+08:00", "outcome": "passed", "note": "  ",
        "csrf_token": "x", "other": "ignored"})
    assert values == {"attended_by": "Li Wei", "attended_at": "2026-03-01T09:30+08:00", "outcome": "passed"}
    assert read_form(ACTIONS["claim"], {"csrf_token": "x"}) == {}


@pytest.mark.parametrize(("action", "form", "code", "field"), [
    ("file", {}, "field_required", "reason_code"),
    ("file", {"reason_code": "not_offered"}, "value_not_allowed", "reason_code"),
    ("reject", {"reason_code": "misdeclared_goods"}, "field_required", "note"),
    ("record_inspection", {"attended_by": "x", "attended_at": "y", "outcome": "maybe"}, "value_not_allowed",
     "outcome"),
    ("answer", {"reason_code": "explanation"}, "field_required", "explanation"),
])
def test_a_bad_form_names_the_field(action, form, code, field):
    with pytest.raises(InvalidInput) as refused:
        read_form(ACTIONS[action], form)
    assert (refused.value.code, refused.value.field) == (code, field)


def test_amended_lines_are_read_by_line_number():
    form = {"lines-2-hs_code": "6109100000", "lines-1-hs_code": " 0409000000 ", "lines-1-unit_price": "95.00",
            "lines-1-name": "Mountain honey", "lines-1-sku": "not amendable", "note": "x"}
    assert read_lines(form, "lines") == [
        {"line_no": 1, "hs_code": "0409000000", "unit_price": Decimal("95.00"), "name": "Mountain honey"},
        {"line_no": 2, "hs_code": "6109100000"},
    ]
    with pytest.raises(InvalidInput) as refused:
        read_lines({"lines-1-total_price": "lots"}, "lines")
    assert refused.value.field == "lines-1-total_price"
    with pytest.raises(InvalidInput):
        read_lines({"lines-x-hs_code": "1"}, "lines")
