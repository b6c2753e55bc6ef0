"""Identity checks of DOMAIN.md §5 (GB 11643 resident ID, GB 32100 USCC) and masking."""

from datetime import date

import pytest

from services.orders.domain.identity import (
    is_valid_resident_id,
    is_valid_uscc,
    mask_id_number,
    mask_phone,
    resident_id_check_char,
    uscc_check_char,
)


@pytest.mark.parametrize(
    ("first17", "check"),
    [
        ("11010519491231002", "X"),  # the GB 11643 vector with check X
        ("44052418800101001", "4"),  # GB 11643's worked example, born 1880
        ("11010119900307447", "7"),
    ],
)
def test_resident_id_check_char(first17: str, check: str) -> None:
    assert resident_id_check_char(first17) == check


@pytest.mark.parametrize(
    "number", ["11010519491231002X", "11010519491231002x", "440524188001010014", "110101199003074477"]
)
def test_valid_resident_ids(number: str) -> None:
    assert is_valid_resident_id(number)


@pytest.mark.parametrize(
    "number",
    [
        "110105194912310021",  # wrong check character
        "11010519491231002",  # 17 characters
        "11010519491231002XX",  # 19 characters
        "1101051949123100XX",  # non-digit in the body
        "11010519490230002X",  # 30 February
        "110105184912310020",  # born 1849: implausible
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits are not ASCII digits
        "",
    ],
)
def test_invalid_resident_ids(number: str) -> None:
    assert not is_valid_resident_id(number)


def test_resident_id_born_in_the_future_is_invalid() -> None:
    body = "11010520300101001"
    number = body + resident_id_check_char(body)
    assert is_valid_resident_id(number, today=date(2030, 1, 1))
    assert not is_valid_resident_id(number, today=date(2029, 12, 31))


@pytest.mark.parametrize("first17", ["1101051949123100", "1101051949123100X", "110105194912310021"])
def test_resident_id_check_char_rejects_a_bad_body(first17: str) -> None:
    with pytest.raises(ValueError):
        resident_id_check_char(first17)


@pytest.mark.parametrize(
    ("first17", "check"),
    [("91350100M000100Y4", "3"), ("91110000802100433", "B"), ("91440300708461136", "T")],
)
def test_uscc_check_char(first17: str, check: str) -> None:
    assert uscc_check_char(first17) == check


@pytest.mark.parametrize(
    "code", ["91350100M000100Y43", "91110000802100433B", "91440300708461136T", "91350100m000100y43"]
)
def test_valid_usccs(code: str) -> None:
    assert is_valid_uscc(code)


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y44",  # wrong check character
        "91350100M000100Y4",  # 17 characters
        "91350100I000100Y43",  # I is not in the GB 32100 alphabet
        "91350100O000100Y43",  # nor O
        "91350100M000100Y4Z",  # nor Z
        "",
    ],
)
def test_invalid_usccs(code: str) -> None:
    assert not is_valid_uscc(code)


def test_uscc_check_char_rejects_a_bad_body() -> None:
    with pytest.raises(ValueError):
        uscc_check_char("91350100S000100Y4")


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("11010519491231002X", "110***********002X"),
        ("91350100M000100Y43", "913***********0Y43"),
        ("E12345678", "*******78"),
        ("12345", "*****"),
        ("", ""),
    ],
)
def test_mask_id_number(number: str, masked: str) -> None:
    assert mask_id_number(number) == masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138 1234 5678", "+86 1** **** 5678"),
        ("+7 727 123 4567", "+7 72* *** 4567"),  # 11 digits: first three and last four
        ("12345", "***45"),
        ("123", "***"),
    ],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked
