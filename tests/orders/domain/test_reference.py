"""ISO 3166-1 alpha-2 and ISO 4217 reference sets."""

import pytest

from services.orders.domain.reference import (
    COUNTRY_CODES,
    CURRENCY_CODES,
    NON_TENDER_CURRENCY_CODES,
    TENDER_CURRENCY_CODES,
)


def test_sizes_are_pinned_so_edits_are_deliberate() -> None:
    assert len(COUNTRY_CODES) == 249
    assert len(CURRENCY_CODES) == 178


def test_codes_are_upper_case_letters_of_the_right_length() -> None:
    assert all(len(code) == 2 and code.isascii() and code.isupper() for code in COUNTRY_CODES)
    assert all(len(code) == 3 and code.isascii() and code.isupper() for code in CURRENCY_CODES)


@pytest.mark.parametrize("code", ["CN", "KZ", "KG", "TJ", "HK", "MO", "TW", "GB", "DE", "US", "IN", "SS", "BQ", "AQ"])
def test_assigned_countries(code: str) -> None:
    assert code in COUNTRY_CODES


@pytest.mark.parametrize("code", ["UK", "EU", "XK", "YU", "AN", "ZZ"])
def test_unassigned_or_withdrawn_countries(code: str) -> None:
    assert code not in COUNTRY_CODES


@pytest.mark.parametrize("code", ["CNY", "KZT", "KGS", "TJS", "EUR", "USD", "HKD", "SLE", "VES", "ZWG", "XCG", "MRU"])
def test_tender_currencies(code: str) -> None:
    assert code in TENDER_CURRENCY_CODES


@pytest.mark.parametrize("code", ["RMB", "CNH", "HRK", "SLL", "ZWL", "ANG", "CUC", "MRO", "VEF"])
def test_unofficial_or_withdrawn_currencies(code: str) -> None:
    assert code not in CURRENCY_CODES


@pytest.mark.parametrize("code", ["XXX", "XTS", "XAU", "XDR", "USN", "CLF"])
def test_non_tender_codes_are_iso_but_not_for_orders(code: str) -> None:
    assert code in CURRENCY_CODES
    assert code not in TENDER_CURRENCY_CODES


def test_non_tender_codes_are_a_subset_of_iso_4217() -> None:
    assert NON_TENDER_CURRENCY_CODES <= CURRENCY_CODES
