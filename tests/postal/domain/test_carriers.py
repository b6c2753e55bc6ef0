"""Express waybill numbers and e-commerce logistics numbers."""

from datetime import date

import pytest

from services.postal.domain import carriers, s10
from services.postal.domain.carriers import CarrierNumbering
from services.postal.domain.errors import InvalidWaybillNumber, UnknownCarrier


def test_mod7_is_the_serial_mod_seven() -> None:
    assert carriers.mod7("123456789") == 123456789 % 7 == 1
    assert carriers.mod7("000000007") == 0


@pytest.mark.parametrize(("serial", "check"), [("7992739871", 3), ("0", 0), ("1", 8), ("4992739871", 6)])
def test_mod10_is_luhn(serial: str, check: int) -> None:
    assert carriers.mod10(serial) == check


def luhn_ok(number: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(number)):
        digit = int(char) * (2 if i % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


@pytest.mark.parametrize("serial", ["0000000000", "1234567890", "9999999999", "31415926535"])
def test_mod10_numbers_pass_a_luhn_check(serial: str) -> None:
    assert luhn_ok(serial + str(carriers.mod10(serial)))


@pytest.mark.parametrize("serial", ["47312482", "12345678", "28704377", "00004000"])
def test_mod11_on_eight_digits_is_s10(serial: str) -> None:
    assert carriers.mod11(serial) == s10.check_digit(serial)


def test_mod11_cycles_weights_beyond_eight_digits() -> None:
    # 9th digit takes weight 8 again: "000000001" → S = 8 → C = 3.
    assert carriers.mod11("000000001") == 3


@pytest.mark.parametrize(
    ("carrier", "serial", "number"),
    [
        ("DHL", 123456789, "1234567891"),
        ("DHL", 0, "0000000000"),
        ("SGX", 47312482, "SGX0473124828"),  # 9 serial digits: S = 179, 179 mod 11 = 3 → C = 8
        ("SFX", 1, "SF0000000000001"),
    ],
)
def test_build_and_validate_round_trip(carrier: str, serial: int, number: str) -> None:
    numbering = carriers.numbering_for(carrier)
    built = carriers.build_waybill_number(numbering, serial)
    assert built == number
    assert len(built) == numbering.length
    assert carriers.validate_waybill_number(numbering, built) == serial
    assert carriers.is_valid_waybill_number(numbering, built)


def test_luhn_carrier_round_trip() -> None:
    numbering = carriers.numbering_for("SGE")
    number = carriers.build_waybill_number(numbering, 799273987)
    assert number == "SGE07992739875"
    assert luhn_ok(number.removeprefix("SGE"))
    assert carriers.validate_waybill_number(numbering, number) == 799273987


@pytest.mark.parametrize("serial", [-1, 10**9, True, "1"])
def test_build_rejects_serials_outside_the_scheme(serial: object) -> None:
    with pytest.raises(InvalidWaybillNumber) as err:
        carriers.build_waybill_number(carriers.DEFAULT_CARRIERS["DHL"], serial)  # type: ignore[arg-type]
    assert err.value.reason == "serial"


def test_build_accepts_largest_serial() -> None:
    numbering = carriers.DEFAULT_CARRIERS["DHL"]
    assert carriers.build_waybill_number(numbering, 999_999_999) == f"999999999{999_999_999 % 7}"


@pytest.mark.parametrize(
    ("carrier", "number", "reason"),
    [
        ("DHL", "123456789", "length"),
        ("DHL", "12345678911", "length"),
        ("DHL", "1234567892", "check_digit"),
        ("DHL", "12345678A1", "digits"),
        ("SGX", "SGY0473124829", "prefix"),
        ("SGX", "SGX0473124829", "check_digit"),
        ("SFX", "SF000000000000A", "digits"),
        ("SFX", "sf0000000000001", "prefix"),
    ],
)
def test_validate_says_why(carrier: str, number: str, reason: str) -> None:
    numbering = carriers.numbering_for(carrier)
    with pytest.raises(InvalidWaybillNumber) as err:
        carriers.validate_waybill_number(numbering, number)
    assert err.value.reason == reason
    assert not carriers.is_valid_waybill_number(numbering, number)


def test_unknown_carrier() -> None:
    with pytest.raises(UnknownCarrier):
        carriers.numbering_for("NOPE")
    custom = {"ABC": CarrierNumbering(prefix="AB", serial_digits=6, check="mod7")}
    assert carriers.numbering_for("ABC", custom).length == 9


@pytest.mark.parametrize(
    "kwargs",
    [
        {"prefix": "ab", "serial_digits": 6},
        {"prefix": "ABCDEFG", "serial_digits": 6},
        {"prefix": "AB", "serial_digits": 3},
        {"prefix": "AB", "serial_digits": 21},
        {"prefix": "AB", "serial_digits": 6, "check": "mod9"},
    ],
)
def test_numbering_rejects_bad_schemes(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        CarrierNumbering(**kwargs)


def test_logistics_number_layout_and_parse() -> None:
    number = carriers.logistics_number(company_prefix="YT", serial=42, day=date(2025, 3, 7))
    assert number == "YT25030700000042"
    assert carriers.parse_logistics_number(number) == ("YT", date(2025, 3, 7), 42)


def test_logistics_number_is_configurable() -> None:
    number = carriers.logistics_number(company_prefix="ZTO", serial=99999, day=date(2024, 12, 31), serial_digits=5)
    assert number == "ZTO24123199999"
    assert carriers.parse_logistics_number(number, serial_digits=5) == ("ZTO", date(2024, 12, 31), 99999)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"company_prefix": "yt", "serial": 1}, "prefix"),
        ({"company_prefix": "ABCDE", "serial": 1}, "prefix"),
        ({"company_prefix": "YT", "serial": -1}, "serial"),
        ({"company_prefix": "YT", "serial": 100_000_000}, "serial"),
    ],
)
def test_logistics_number_rejects_bad_parts(kwargs: dict, reason: str) -> None:
    with pytest.raises(InvalidWaybillNumber) as err:
        carriers.logistics_number(day=date(2025, 1, 1), **kwargs)
    assert err.value.reason == reason


def test_logistics_number_accepts_largest_serial() -> None:
    assert carriers.logistics_number(company_prefix="YT", serial=99_999_999, day=date(2025, 1, 1)).endswith("99999999")


@pytest.mark.parametrize(("number", "reason"), [("YT2503070000004", "format"), ("YT25133100000042", "date")])
def test_parse_logistics_number_rejects(number: str, reason: str) -> None:
    with pytest.raises(InvalidWaybillNumber) as err:
        carriers.parse_logistics_number(number)
    assert err.value.reason == reason
