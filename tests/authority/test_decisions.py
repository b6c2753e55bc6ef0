"""The sandbox's decisions as pure rules: rules first, then seeded rates; numbers; the rules' settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.authority.decisions import Decision, decide, numbers, state_after
from services.authority.settings import AuthoritySettings, Rule
from shared.ceb.fields import new_guid


def settings(**values) -> AuthoritySettings:
    return AuthoritySettings(database_url="sqlite+aiosqlite:///:memory:", **values)


def test_the_first_matching_rule_wins():
    s = settings(rules=[{"order_no_prefix": "R300-", "answer": 300},
                        {"hs_prefix": "9303", "answer": 500, "failed_answer": 502, "info": "weapons"},
                        {"message_type": "CUSITM", "answer": 100}])
    assert decide(s, guid=new_guid(), kind="CEB621", order_no="R300-1", hs_codes=["9303000000"]).answer == 300
    assert decide(s, guid=new_guid(), kind="CEB621", order_no="MO-1", hs_codes=["0813", "9303100000"]) == Decision(
        500, 502, "weapons")
    assert decide(s, guid=new_guid(), kind="CUSITM", order_no="MO-1", hs_codes=[]).answer == 100
    assert decide(s, guid=new_guid(), kind="CEB621", order_no="MO-1", hs_codes=["0813"]).answer == 800


def test_rates_are_a_seeded_draw_per_guid():
    s = settings(review_rate=0.2, inspection_rate=0.2, reject_rate=0.2, seed=7)
    guids = [new_guid() for _ in range(2000)]
    answers = [decide(s, guid=g, kind="CEB621", order_no="MO", hs_codes=[]).answer for g in guids]
    assert answers == [decide(s, guid=g, kind="CEB621", order_no="MO", hs_codes=[]).answer for g in guids]
    shares = {answer: answers.count(answer) / len(answers) for answer in (100, 300, 500, 800)}
    assert all(0.15 < shares[a] < 0.25 for a in (100, 300, 500)) and 0.35 < shares[800] < 0.45
    other_seed = settings(review_rate=0.2, inspection_rate=0.2, reject_rate=0.2, seed=8)
    assert answers != [decide(other_seed, guid=g, kind="CEB621", order_no="MO", hs_codes=[]).answer for g in guids]


def test_numbers_follow_customs_shapes_and_are_stable():
    guid = new_guid()
    at = datetime(2026, 2, 28, 17, 0, tzinfo=UTC)  # 1 March in China
    pre_no, invt_no = numbers(guid, kind="CEB621", customs_code="4600", at=at)
    assert pre_no.startswith("B20260301") and len(pre_no) == 18
    assert invt_no.startswith("46002026I") and len(invt_no) == 18
    assert numbers(guid, kind="CEB621", customs_code="4600", at=at) == (pre_no, invt_no)
    assert numbers(guid, kind="CEB603", customs_code="4600", at=at)[1][8] == "E"


def test_states_after_each_status():
    assert [state_after(s) for s in (120, 300, 500, 503, 100, 800, 899, 700)] == [
        "open", "awaiting_review", "awaiting_inspection", "detained", "rejected", "released", "closed", "returned"]


@pytest.mark.parametrize("rule", [
    {"answer": 300},  # matches everything: not a rule
    {"order_no_prefix": "X", "answer": 200},
    {"order_no_prefix": "X", "answer": 500, "failed_answer": 450},
    {"hs_prefix": "93.03", "answer": 500},
])
def test_nonsense_rules_are_refused_at_start_up(rule):
    with pytest.raises(ValidationError):
        Rule(**rule)


def test_rates_cannot_exceed_one():
    with pytest.raises(ValidationError):
        settings(review_rate=0.5, inspection_rate=0.4, reject_rate=0.2)


def test_rules_come_from_the_environment_as_json(monkeypatch):
    monkeypatch.setenv("SILKGATE_AUTHORITY_RULES", '[{"order_no_prefix": "R300-", "answer": 300}]')
    monkeypatch.setenv("SILKGATE_AUTHORITY_REVIEW_RATE", "0.1")
    s = AuthoritySettings()
    assert s.rules == [Rule(order_no_prefix="R300-", answer=300)] and s.review_rate == 0.1
