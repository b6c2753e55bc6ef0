"""Field formats: China time, amounts, guids."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.ceb.errors import MessageMalformed, MessageRuleViolation
from shared.ceb.fields import (
    CHINA_TIME,
    amount_text,
    app_time,
    check_guid,
    new_guid,
    parse_app_time,
    parse_return_time,
    return_time,
)


def test_times_are_written_in_china_time():
    moment = datetime(2026, 2, 28, 16, 30, 5, 7000, tzinfo=UTC)  # past midnight in Beijing
    assert app_time(moment) == "20260301003005"
    assert return_time(moment) == "20260301003005007"
    assert parse_return_time("20260301003005007") == moment
    assert parse_app_time("20260301003005") == moment.replace(microsecond=0).astimezone(CHINA_TIME)
    with pytest.raises(MessageRuleViolation):
        app_time(datetime(2026, 3, 1))  # no time zone
    for bad in ("2026030100300", "20261301003005007", "abc"):
        with pytest.raises(MessageMalformed):
            parse_return_time(bad)


def test_amounts_are_plain_decimals_of_at_most_five_places():
    assert [amount_text(Decimal(v), "x") for v in ("30.00", "0", "0.50", "1E+2", "12.34500")] == [
        "30", "0", "0.5", "100", "12.345"]
    for bad in (Decimal(-1), Decimal("1.000001"), Decimal("1" * 20), Decimal("NaN")):
        with pytest.raises(MessageRuleViolation):
            amount_text(bad, "x")


def test_guids_are_36_upper_case_characters():
    guid = new_guid()
    assert len(guid) == 36 and guid == guid.upper() and check_guid(guid, "g") == guid
    with pytest.raises(MessageRuleViolation):
        check_guid(guid.lower(), "g")


def test_a_return_time_is_read_digit_by_position_and_checked_as_a_date():
    assert parse_return_time("20240229235959999") == datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=CHINA_TIME)
    assert parse_return_time("20240229235959") == datetime(2024, 2, 29, 23, 59, 59, tzinfo=CHINA_TIME)
    for bad in ("20250229120000000", "20261232000000", "20260101240000", "20260101006000", "00000101000000",
                "٢٠٢٦٠٣٠١٠٠٣٠٠٥٠٠٧", "2026030100300５"):  # no 29 Feb, day 32, hour 24, minute 60, year 0, not ASCII
        with pytest.raises(MessageMalformed):
            parse_return_time(bad)
