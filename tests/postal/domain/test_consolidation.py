"""Receptacle/dispatch closing rules and the S9 parts a parcel's channel chooses."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.postal.domain import consolidation as c
from services.postal.domain import s9
from services.postal.domain.errors import InvalidS9, PostalRuleError

T0 = datetime(2025, 6, 18, 8, 0, tzinfo=UTC)
POLICY = c.ConsolidationPolicy()


def close_reason(weight: str = "1", items: int = 1, age_s: float = 0) -> str | None:
    return c.receptacle_close_reason(
        weight_kg=Decimal(weight), item_count=items, opened_at=T0, now=T0 + timedelta(seconds=age_s), policy=POLICY
    )


def test_defaults() -> None:
    assert (POLICY.max_receptacle_weight_kg, POLICY.max_receptacle_items, POLICY.max_receptacle_age_s) == (30, 50, 600)


@pytest.mark.parametrize(
    ("weight", "items", "age_s", "reason"),
    [
        ("29.999", 1, 0, None),
        ("30", 1, 0, "weight"),  # reaching the limit closes
        ("30.5", 1, 0, "weight"),
        ("1", 49, 0, None),
        ("1", 50, 0, "count"),
        ("1", 1, 599.999, None),
        ("1", 1, 600, "age"),
        ("30", 50, 600, "weight"),  # weight first, then count, then age
        ("1", 50, 600, "count"),
    ],
)
def test_receptacle_close_reason_boundaries(weight: str, items: int, age_s: float, reason: str | None) -> None:
    assert close_reason(weight, items, age_s) == reason


def test_empty_receptacle_never_closes() -> None:
    assert close_reason("0", 0, 10_000) is None


def test_naive_times_are_utc() -> None:
    naive = T0.replace(tzinfo=None)
    reason = c.receptacle_close_reason(
        weight_kg=Decimal(1), item_count=1, opened_at=naive, now=T0 + timedelta(seconds=600)
    )
    assert reason == "age"


@pytest.mark.parametrize(
    ("bag", "item", "fits"),
    [("29", "1", True), ("29", "1.001", False), ("0", "45", True), ("0.5", "29.5", True), ("0.5", "29.6", False)],
)
def test_fits(bag: str, item: str, fits: bool) -> None:
    assert c.fits(receptacle_weight_kg=Decimal(bag), item_weight_kg=Decimal(item), policy=POLICY) is fits


@pytest.mark.parametrize(
    ("count", "age_s", "reason"),
    [(0, 99_999, None), (19, 3599, None), (20, 0, "count"), (1, 3600, "age"), (19, 3600, "age")],
)
def test_dispatch_close_reason(count: int, age_s: int, reason: str | None) -> None:
    got = c.dispatch_close_reason(receptacle_count=count, opened_at=T0, now=T0 + timedelta(seconds=age_s))
    assert got == reason


def test_policy_is_configurable_and_checked() -> None:
    small = c.ConsolidationPolicy(max_receptacle_weight_kg=Decimal(5), max_receptacle_items=2)
    assert (
        c.receptacle_close_reason(weight_kg=Decimal(1), item_count=2, opened_at=T0, now=T0, policy=small) == "count"
    )
    for bad in (
        {"max_receptacle_weight_kg": Decimal(0)},
        {"max_receptacle_weight_kg": Decimal(1000)},
        {"max_receptacle_items": 0},
        {"max_receptacle_age_s": 0},
        {"max_dispatch_receptacles": 1000},  # S9 receptacle serials have 3 digits
    ):
        with pytest.raises(ValueError):
            c.ConsolidationPolicy(**bad)
    assert c.ConsolidationPolicy(max_dispatch_receptacles=999, max_receptacle_weight_kg=Decimal("999.9"))


def test_next_dispatch_serial() -> None:
    assert c.next_dispatch_serial(previous=None, previous_year=None, year=2025) == 1
    assert c.next_dispatch_serial(previous=41, previous_year=2025, year=2025) == 42
    assert c.next_dispatch_serial(previous=9998, previous_year=2025, year=2025) == 9999
    assert c.next_dispatch_serial(previous=9999, previous_year=2024, year=2025) == 1  # a new year restarts
    with pytest.raises(InvalidS9):
        c.next_dispatch_serial(previous=9999, previous_year=2025, year=2025)


@pytest.mark.parametrize(
    ("channel", "product", "subclass"),
    [
        ("mail", "letter", "UN"),
        ("mail", "tracked_letter", "UN"),
        ("mail", "registered_letter", "UR"),
        ("mail", "insured", "UR"),
        ("mail", "parcel", "CN"),
        ("mail", "ems", "EM"),
        ("mail", None, "CN"),
        ("express", None, "EM"),
        ("ecommerce", None, "CC"),
    ],
)
def test_default_subclasses(channel: str, product: str | None, subclass: str) -> None:
    assert c.mail_subclass_for(channel, product) == subclass
    assert c.mail_category_for(channel, product) == "A"


def test_category_and_subclass_are_configurable_most_specific_first() -> None:
    categories = {"*": "A", "parcel": "C", "mail:ems": "D", "ecommerce": "B"}
    assert c.mail_category_for("mail", "parcel", categories=categories) == "C"
    assert c.mail_category_for("mail", "ems", categories=categories) == "D"
    assert c.mail_category_for("ecommerce", None, categories=categories) == "B"
    assert c.mail_category_for("mail", "letter", categories=categories) == "A"
    assert c.mail_category_for("express", None, categories={}) == "A"
    with pytest.raises(PostalRuleError):
        c.mail_category_for("mail", "letter", categories={"*": "Z"})
    with pytest.raises(PostalRuleError):
        c.mail_subclass_for("express", None, subclasses={"mail": "CN"})


def test_registered_flag() -> None:
    assert c.is_registered_or_insured("registered_letter") and c.is_registered_or_insured("insured")
    assert not c.is_registered_or_insured("parcel") and not c.is_registered_or_insured(None)


def test_offices_of_exchange() -> None:
    assert c.office_of_exchange("CN") == c.ORIGIN_OFFICE == "CNURCA"
    assert c.office_of_exchange("KZ") == "KZALAA"
    assert c.office_of_exchange("BR") == "BRXXXA"  # no configured office: placeholder
    assert c.office_of_exchange("BR", offices={"BR": "BRSAOA"}) == "BRSAOA"
    with pytest.raises(PostalRuleError) as err:
        c.office_of_exchange("BR", strict=True)
    assert err.value.reason == "office_of_exchange"
    with pytest.raises(PostalRuleError) as err:
        c.office_of_exchange("UK")
    assert err.value.reason == "country"


def test_default_table_builds_valid_s9_ids() -> None:
    assert len(c.DEFAULT_OFFICES) >= 15
    for country, office in {**c.DEFAULT_OFFICES, "BR": c.office_of_exchange("BR")}.items():
        assert office.startswith(country)
        did = s9.dispatch_id(
            origin=c.ORIGIN_OFFICE, destination=office, category="A", subclass="CN", year=2025, serial=1
        )
        assert s9.parse_dispatch_id(did).destination == office
