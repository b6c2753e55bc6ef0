"""UPU S10 identifiers (DOMAIN.md §3)."""

from datetime import UTC, datetime, timedelta

import pytest

from services.postal.domain import s10
from services.postal.domain.countries import ISO_3166_ALPHA2
from services.postal.domain.errors import InvalidS10, PostalRuleError


@pytest.mark.parametrize(
    ("serial", "check"),
    [
        ("47312482", 9),  # DOMAIN.md §3 vector
        ("12345678", 5),  # DOMAIN.md §3 vector
        ("28704377", 5),  # from RR287043775IN: S = 231, S mod 11 = 0 → C = 11 → 5
        ("00000001", 4),  # S = 7 → C = 4
        ("00000000", 5),  # S = 0 → C = 11 → 5
        ("00004000", 0),  # S = 12, S mod 11 = 1 → C = 10 → 0
    ],
)
def test_check_digit_vectors(serial: str, check: int) -> None:
    assert s10.check_digit(serial) == check


@pytest.mark.parametrize("bad", ["", "1234567", "123456789", "1234567a", "１２３４５６７８", "1234 678", "²2345678"])
def test_check_digit_rejects_non_serials(bad: str) -> None:
    with pytest.raises(InvalidS10) as err:
        s10.check_digit(bad)
    assert err.value.reason == "serial"


def test_domain_identifier_is_valid_and_parsed() -> None:
    parsed = s10.validate("RR287043775IN")
    assert parsed == s10.S10Id(indicator="RR", serial=28704377, check=5, country="IN")
    assert str(parsed) == "RR287043775IN"
    assert parsed.family == "registered"
    assert s10.is_valid("RR287043775IN")


@pytest.mark.parametrize(
    ("indicator", "family"),
    [
        ("CP", "parcel"),
        ("EA", "ems"),
        ("LX", "letter_tracked"),
        ("RR", "registered"),
        ("VV", "insured"),
        ("UA", "letter_customs"),
    ],
)
def test_every_indicator_family_builds_and_validates(indicator: str, family: str) -> None:
    identifier = s10.build(service_indicator=indicator, serial=47312482, country="CN")
    assert identifier == f"{indicator}473124829CN"
    assert s10.validate(identifier).family == family
    assert s10.service_family(indicator) == family


@pytest.mark.parametrize("serial", [0, 1, 99_999_999])
def test_build_serial_bounds_accepted(serial: int) -> None:
    assert s10.validate(s10.build(service_indicator="CP", serial=serial, country="KZ")).serial == serial


@pytest.mark.parametrize("serial", [-1, 100_000_000, True, 1.0, "47312482"])
def test_build_serial_out_of_range(serial: object) -> None:
    with pytest.raises(InvalidS10) as err:
        s10.build(service_indicator="CP", serial=serial, country="KZ")  # type: ignore[arg-type]
    assert err.value.reason == "serial"


@pytest.mark.parametrize(
    ("identifier", "reason"),
    [
        ("RR287043775I", "length"),  # 12 characters
        ("RR287043775INX", "length"),  # 14 characters
        ("", "length"),
        ("rr287043775in", "indicator"),  # lower case
        ("Rr287043775IN", "indicator"),
        ("R1287043775IN", "indicator"),
        ("AA287043775IN", "indicator"),  # A* is not an accepted family
        ("RR28704377XIN", "serial"),
        ("RR2870437 5IN", "serial"),
        ("RR287043774IN", "check_digit"),
        ("RR287043776IN", "check_digit"),
        ("RR287043775I1", "country"),  # non-letter country
        ("RR287043775in", "country"),  # lower-case country
        ("RR287043775XX", "country"),  # not an ISO 3166 code
        ("RR287043775UK", "country"),  # the UK's ISO code is GB
    ],
)
def test_invalid_identifiers_say_why(identifier: str, reason: str) -> None:
    with pytest.raises(InvalidS10) as err:
        s10.validate(identifier)
    assert err.value.reason == reason
    assert not s10.is_valid(identifier)


def test_validate_rejects_non_strings() -> None:
    with pytest.raises(InvalidS10) as err:
        s10.validate(None)  # type: ignore[arg-type]
    assert err.value.reason == "length"


def test_invalid_s10_is_a_value_error_with_detail() -> None:
    with pytest.raises(ValueError, match="check digit of 28704377 is 5"):
        s10.validate("RR287043771IN")


@pytest.mark.parametrize(("indicator", "country"), [("rr", "IN"), ("R", "IN"), ("RR", "in"), ("RR", "ZZ")])
def test_build_rejects_bad_parts(indicator: str, country: str) -> None:
    with pytest.raises(InvalidS10):
        s10.build(service_indicator=indicator, serial=1, country=country)


def test_families_are_configurable() -> None:
    families = {**s10.SERVICE_FAMILIES, "A": "unregistered"}
    assert s10.is_valid("AA473124829CN", families=families)
    assert not s10.is_valid("AA473124829CN")


def test_normalize_human_input() -> None:
    assert s10.normalize(" rr 287 043 775 in ") == "RR287043775IN"
    assert s10.is_valid(s10.normalize("rr 287 043 775 in"))


@pytest.mark.parametrize(
    ("product", "indicator"),
    [
        ("letter", "UA"),
        ("registered_letter", "RR"),
        ("tracked_letter", "LX"),
        ("parcel", "CP"),
        ("ems", "EA"),
        ("insured", "VV"),
    ],
)
def test_indicator_for_default_table(product: str, indicator: str) -> None:
    assert s10.indicator_for(product) == indicator
    assert s10.is_valid(s10.build(service_indicator=indicator, serial=1, country="CN"))


def test_indicator_for_is_configurable_and_rejects_unknown() -> None:
    assert s10.indicator_for("parcel", {"parcel": "CX"}) == "CX"
    with pytest.raises(PostalRuleError) as err:
        s10.indicator_for("pigeon")
    assert err.value.reason == "mail_product"


def test_country_list_is_complete_iso_3166() -> None:
    assert len(ISO_3166_ALPHA2) == 249
    assert {"CN", "KZ", "KG", "TJ", "HK", "MO", "TW", "GB", "IN"} <= ISO_3166_ALPHA2
    assert not {"UK", "EU", "XK", "ZZ"} & ISO_3166_ALPHA2


def test_reuse_only_after_twelve_months() -> None:
    issued = datetime(2024, 1, 1, tzinfo=UTC)
    assert not s10.may_reuse(issued, issued + timedelta(days=364, hours=23))
    assert s10.may_reuse(issued, issued + timedelta(days=365))
    assert not s10.may_reuse(issued, issued + timedelta(days=700), min_days=730)
