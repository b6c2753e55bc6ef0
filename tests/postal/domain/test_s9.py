"""UPU S9 receptacle identifiers and dispatch identifiers (DOMAIN.md §4)."""

from decimal import Decimal

import pytest

from services.postal.domain import s9
from services.postal.domain.errors import InvalidS9

BASE = {
    "origin": "CNURCA",
    "destination": "KZALAA",
    "category": "A",
    "subclass": "CN",
    "year": 2025,
    "dispatch_serial": 12,
    "receptacle_serial": 3,
    "is_last": True,
    "registered": False,
    "weight_kg": Decimal("12.3"),
}


def receptacle(**changes: object) -> str:
    return s9.build_receptacle_id(**{**BASE, **changes})  # type: ignore[arg-type]


def test_layout_is_29_characters_field_by_field() -> None:
    rid = receptacle()
    assert rid == "CNURCA" + "KZALAA" + "A" + "CN" + "5" + "0012" + "003" + "1" + "0" + "0123"
    assert len(rid) == s9.RECEPTACLE_ID_LENGTH == 29


def test_parse_round_trip() -> None:
    parsed = s9.parse_receptacle_id(receptacle())
    assert parsed.dispatch == s9.DispatchId("CNURCA", "KZALAA", "A", "CN", 5, 12)
    assert (parsed.receptacle_serial, parsed.is_last, parsed.registered) == (3, True, False)
    assert parsed.weight_units == 123
    assert parsed.weight_kg == Decimal("12.3")
    assert str(parsed) == receptacle()


def test_receptacle_starts_with_its_dispatch_id() -> None:
    did = s9.dispatch_id(origin="CNURCA", destination="KZALAA", category="A", subclass="CN", year=2025, serial=12)
    assert did == "CNURCAKZALAAACN50012"
    assert len(did) == s9.DISPATCH_ID_LENGTH == 20
    assert receptacle().startswith(did)
    assert str(s9.parse_dispatch_id(did)) == did
    assert str(s9.parse_receptacle_id(receptacle()).dispatch) == did


@pytest.mark.parametrize(
    ("weight", "units"),
    [
        (Decimal("0.001"), 1),  # anything above zero is at least 0.1 kg
        (Decimal("0.1"), 1),
        (Decimal("0.11"), 2),  # rounded up, never down
        (Decimal("12.30"), 123),
        (Decimal("12.301"), 124),
        (0.3, 3),  # a float 0.3 must not become 0.4
        (30, 300),
        ("999.9", 9999),
        (Decimal("999.8999"), 9999),
    ],
)
def test_weight_rounds_up_to_a_tenth(weight: object, units: int) -> None:
    assert s9.weight_units(weight) == units  # type: ignore[arg-type]


@pytest.mark.parametrize("weight", [Decimal("999.91"), 1000, Decimal(0), -1, "abc", float("nan"), True])
def test_weight_outside_s9(weight: object) -> None:
    with pytest.raises(InvalidS9) as err:
        s9.weight_units(weight)  # type: ignore[arg-type]
    assert err.value.reason == "weight"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"origin": "CNURC"}, "origin"),
        ({"origin": "cnurca"}, "origin"),
        ({"origin": "ZZURCA"}, "origin"),  # not an ISO country
        ({"destination": "KZALA-"}, "destination"),
        ({"category": "E"}, "category"),
        ({"category": "a"}, "category"),
        ({"subclass": "C1"}, "subclass"),
        ({"subclass": "CNN"}, "subclass"),
        ({"dispatch_serial": 0}, "dispatch_serial"),
        ({"dispatch_serial": 10000}, "dispatch_serial"),
        ({"receptacle_serial": 0}, "receptacle_serial"),
        ({"receptacle_serial": 1000}, "receptacle_serial"),
        ({"year": -1}, "year"),
        ({"weight_kg": 1000}, "weight"),
    ],
)
def test_build_rejects_each_bad_part(changes: dict, reason: str) -> None:
    with pytest.raises(InvalidS9) as err:
        receptacle(**changes)
    assert err.value.reason == reason


@pytest.mark.parametrize(
    "changes",
    [
        {"dispatch_serial": 1},
        {"dispatch_serial": 9999},
        {"receptacle_serial": 1},
        {"receptacle_serial": 999},
        {"category": "D"},
        {"year": 2030},
        {"registered": True, "is_last": False},
        {"origin": "KGFRU1"},
    ],
)
def test_build_accepts_boundaries(changes: dict) -> None:
    rid = receptacle(**changes)
    assert str(s9.parse_receptacle_id(rid)) == rid


def test_year_keeps_only_its_last_digit() -> None:
    assert s9.parse_receptacle_id(receptacle(year=2030)).dispatch.year_digit == 0


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("CNURCAKZALAAACN5001200310012", "length"),
        ("CNURCAKZALAAACN500120031001234", "length"),
        ("CNURCAKZALAAACN500120031001 3", "format"),  # space in the weight
        ("CNURCAKZALAAACN5001200320123", "length"),
        ("CNURCAKZALAAACN50012003201230", "format"),  # highest-receptacle flag "2"
        ("CNURCAKZALAAECN50012003100123", "category"),
        ("CNURCAKZALAAACN50000003100123", "dispatch_serial"),
        ("CNURCAKZALAAACN50012000100123", "receptacle_serial"),
        ("CNURCAKZALAAACN50012003100000", "weight"),
        ("CNURCAKZALAAAC150012003100123", "subclass"),
    ],
)
def test_parse_rejects(value: str, reason: str) -> None:
    with pytest.raises(InvalidS9) as err:
        s9.parse_receptacle_id(value)
    assert err.value.reason == reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [("CNURCAKZALAAACN5001", "length"), ("CNURCAKZALAAACN5001X", "format"), ("CNURCAKZALAAACNX0012", "format")],
)
def test_parse_dispatch_rejects(value: str, reason: str) -> None:
    with pytest.raises(InvalidS9) as err:
        s9.parse_dispatch_id(value)
    assert err.value.reason == reason
