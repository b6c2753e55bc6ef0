"""Tracking codes → contract TrackingStatus, and a parcel's status from out-of-order events."""

import re
import typing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.postal.domain import tracking
from shared.contract.events import TrackingStatus

T0 = datetime(2025, 6, 18, 8, 0, tzinfo=UTC)
STATUSES = set(typing.get_args(TrackingStatus))

# Every EMSEVT code DOMAIN.md §4 lists (EMJ/EMK and EDD/EDE written as pairs there).
DOMAIN_CODES = set(
    ["EMA", "EMB", "EXA", "EXB", "EXC", "EXD", "EXX", "EMC", "EMJ", "EMK", "EMD", "EDA", "EDB", "EME", "EDC", "EMF", "EDD", "EDE", "EMG", "EDF", "EDG", "EDH", "EMH", "EMI", "EDX"]
)


@dataclass(frozen=True)
class Ev:
    status: str
    occurred_at: datetime


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_emsevt_table_covers_domain_codes_with_contract_statuses() -> None:
    assert set(tracking.EMSEVT_CODES) == DOMAIN_CODES
    for table in (tracking.EMSEVT_CODES, tracking.EXPRESS_CODES):
        assert {status for status, _ in table.values()} <= STATUSES - {"unknown"}


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("EMA", "in_transit"),
        ("EXB", "held_by_customs"),
        ("EME", "held_by_customs"),
        ("EXC", "in_transit"),
        ("EDC", "in_transit"),
        ("EDG", "out_for_delivery"),
        ("EDH", "out_for_delivery"),
        ("EMH", "delivery_failed"),
        ("EMI", "delivered"),
        ("EXX", "returned"),
        ("EDX", "returned"),
    ],
)
def test_mail_codes(code: str, status: str) -> None:
    mapped = tracking.map_event("mail", code)
    assert (mapped.code, mapped.status, mapped.known) == (code, status, True)
    assert mapped.description


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("IR", "pre_transit"),
        ("PU", "in_transit"),
        ("IT", "in_transit"),
        ("CC", "in_transit"),
        ("CH", "held_by_customs"),
        ("OD", "out_for_delivery"),
        ("DF", "delivery_failed"),
        ("DL", "delivered"),
        ("RT", "returned"),
    ],
)
def test_express_codes_for_any_carrier(code: str, status: str) -> None:
    assert tracking.map_event("SGX", code).status == status
    assert tracking.map_event("DHL", code.lower()).status == status  # codes are read case-insensitively


def test_unknown_codes_are_kept_not_dropped() -> None:
    mapped = tracking.map_event("mail", "ZZZ")
    assert mapped == tracking.MappedEvent("ZZZ", "unknown", mapped.description, known=False)
    assert "ZZZ" in mapped.description
    assert tracking.map_event("SGX", "EMI").status == "unknown"  # EMSEVT is not the carriers' vocabulary
    with pytest.raises(ValueError):
        tracking.map_event("mail", "  ")


def test_per_carrier_tables() -> None:
    tables = {**tracking.CODE_TABLES, "ACME": {"99": ("delivered", "Signed for")}}
    assert tracking.map_event("ACME", "99", tables=tables).status == "delivered"
    assert tracking.map_event("ACME", "DL", tables=tables).known is False
    assert tracking.map_event("SGX", "DL", tables=tables).status == "delivered"


def test_terminal_statuses() -> None:
    assert tracking.is_terminal("delivered") and tracking.is_terminal("returned")
    assert not any(tracking.is_terminal(s) for s in STATUSES - {"delivered", "returned"})


def test_no_events_is_pre_transit() -> None:
    assert tracking.current_status([]) == "pre_transit"


def test_events_are_placed_by_time_not_arrival() -> None:
    arrived = [Ev("delivered", at(30)), Ev("in_transit", at(10)), Ev("out_for_delivery", at(20))]
    assert tracking.current_status(arrived) == "delivered"
    assert tracking.current_status([Ev("out_for_delivery", at(20)), Ev("held_by_customs", at(5))]) == "out_for_delivery"


def test_delivered_sticks_except_for_a_later_return() -> None:
    assert tracking.current_status([Ev("delivered", at(10)), Ev("in_transit", at(20))]) == "delivered"
    assert tracking.current_status([Ev("delivered", at(10)), Ev("delivery_failed", at(20))]) == "delivered"
    assert tracking.current_status([Ev("returned", at(20)), Ev("delivered", at(10))]) == "returned"
    assert tracking.current_status([Ev("returned", at(5)), Ev("delivered", at(10))]) == "returned"


def test_failed_attempt_then_delivery() -> None:
    events = [Ev("delivery_failed", at(10)), Ev("out_for_delivery", at(20)), Ev("delivered", at(30))]
    assert tracking.current_status(events) == "delivered"
    assert tracking.current_status(events[:1]) == "delivery_failed"


def test_unknown_events_do_not_move_the_status() -> None:
    assert tracking.current_status([Ev("in_transit", at(1)), Ev("unknown", at(2))]) == "in_transit"
    assert tracking.current_status([Ev("unknown", at(2))]) == "pre_transit"


def test_mixed_naive_and_aware_times_and_offsets() -> None:
    plus8 = timezone(timedelta(hours=8))
    events = [
        Ev("delivered", datetime(2025, 6, 18, 16, 30, tzinfo=plus8)),  # 08:30 UTC
        Ev("out_for_delivery", datetime(2025, 6, 18, 8, 20)),  # naive → UTC
        Ev("in_transit", at(10)),
    ]
    assert tracking.current_status(events) == "delivered"


def test_equal_times_keep_input_order() -> None:
    assert tracking.current_status([Ev("in_transit", at(1)), Ev("held_by_customs", at(1))]) == "held_by_customs"


def test_dedupe_key_is_stable_across_representations() -> None:
    key = tracking.dedupe_key("RR287043775IN", "EMI", T0)
    assert key == "RR287043775IN|EMI|2025-06-18T08:00:00.000000+00:00"
    plus8 = timezone(timedelta(hours=8))
    assert tracking.dedupe_key(" rr287043775in", "emi ", T0.astimezone(plus8)) == key
    assert tracking.dedupe_key("RR287043775IN", "EMI", T0.replace(tzinfo=None)) == key
    assert tracking.dedupe_key("RR287043775IN", "EMI", T0 + timedelta(microseconds=1)) != key
    assert tracking.dedupe_key("RR287043775IN", "EMH", T0) != key
    assert re.fullmatch(r"[A-Z0-9]+\|[A-Z0-9]+\|[-0-9T:.+]+", key)
