"""The dispatch handoff manifest (PREDES/CARDIT + ITMATT content)."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.postal.domain import s9
from services.postal.domain.errors import InvalidManifest, InvalidS9
from services.postal.domain.manifest import (
    ManifestItem,
    ManifestLine,
    ManifestParty,
    ManifestReceptacle,
    build_manifest,
)
from shared.contract.parcel import Party

NOW = datetime(2025, 6, 18, 9, 0, tzinfo=UTC)
DISPATCH = s9.dispatch_id(origin="CNURCA", destination="KZALAA", category="A", subclass="CN", year=2025, serial=7)
SENDER = ManifestParty(name="Kashgar Dried Fruit Co", address="1 Bazaar Rd", country="CN", city="Kashgar")
ADDRESSEE = ManifestParty(name="Aigerim N.", address="5 Abay Ave", country="KZ", postal_code="050000", phone="+7 701")


def rid(serial: int, *, last: bool = False, weight: str = "10.2", dispatch_serial: int = 7) -> str:
    return s9.build_receptacle_id(
        origin="CNURCA",
        destination="KZALAA",
        category="A",
        subclass="CN",
        year=2025,
        dispatch_serial=dispatch_serial,
        receptacle_serial=serial,
        is_last=last,
        registered=False,
        weight_kg=Decimal(weight),
    )


def item(number: str, form: str = "CN23") -> ManifestItem:
    line = ManifestLine(
        description="Dried apricots",
        quantity=Decimal(2),
        weight_kg=Decimal("1.000"),
        value=Decimal("60.00"),
        hs_code="0813100000",
        origin_country="CN",
    )
    return ManifestItem(
        tracking_number=number,
        sender=SENDER,
        addressee=ADDRESSEE,
        contents_category="merchandise",
        value=Decimal("120.00"),
        currency="CNY",
        weight_kg=Decimal("2.150"),
        customs_form=form,
        lines=(line, line),
        declaration_id="D-1",
    )


def manifest(receptacles: list[ManifestReceptacle]) -> dict:
    return build_manifest(dispatch_id=DISPATCH, carrier="SGX", receptacles=receptacles, prepared_at=NOW)


def test_header_receptacles_and_items() -> None:
    result = manifest(
        [
            ManifestReceptacle(rid(2, last=True, weight="4.4"), (item("CP000000015CN"),)),
            ManifestReceptacle(rid(1), (item("RR287043775IN", "CN22"), item("EA473124829CN"))),
        ]
    )
    assert result["dispatch"] == {
        "dispatch_id": "CNURCAKZALAAACN50007",
        "origin_office": "CNURCA",
        "destination_office": "KZALAA",
        "mail_category": "A",
        "mail_subclass": "CN",
        "year_digit": 5,
        "serial": 7,
        "carrier": "SGX",
        "receptacle_count": 2,
        "item_count": 3,
        "weight_kg": "14.6",
    }
    first, second = result["receptacles"]  # ordered by receptacle serial
    assert (first["serial"], first["is_last"], first["item_count"], first["weight_kg"]) == (1, False, 2, "10.2")
    assert first["items_weight_kg"] == "4.300"
    assert first["tracking_numbers"] == ["RR287043775IN", "EA473124829CN"]
    assert (second["serial"], second["is_last"]) == (2, True)
    assert result["prepared_at"] == "2025-06-18T09:00:00+00:00"


def test_itmatt_item_content() -> None:
    row = manifest([ManifestReceptacle(rid(1, last=True), (item("RR287043775IN", "CN22"),))])["items"][0]
    assert row["tracking_number"] == "RR287043775IN"
    assert row["receptacle_id"] == rid(1, last=True)
    assert row["sender"]["name"] == "Kashgar Dried Fruit Co" and row["addressee"]["postal_code"] == "050000"
    assert (row["contents_category"], row["value"], row["currency"], row["weight_kg"]) == (
        "merchandise",
        "120.00",
        "CNY",
        "2.150",
    )
    assert row["customs"] == {"form": "CN22", "declaration_id": "D-1", "trade_mode": None}
    assert row["lines"][1] == {
        "line_no": 2,
        "description": "Dried apricots",
        "quantity": "2",
        "weight_kg": "1.000",
        "value": "60.00",
        "hs_code": "0813100000",
        "origin_country": "CN",
    }


def test_manifest_is_json_serialisable() -> None:
    result = manifest([ManifestReceptacle(rid(1, last=True), (item("RR287043775IN"),))])
    assert json.loads(json.dumps(result)) == result


def test_party_from_contract_party() -> None:
    party = Party(name="A", phone="+86 991 000", address="Road 1", country="CN", id_number="secret")
    copied = ManifestParty.of(party)
    assert copied == ManifestParty(name="A", address="Road 1", country="CN", phone="+86 991 000")


def test_express_and_ecommerce_forms_pass() -> None:
    items = (item("SGX0473124828", "express_B"), item("YT25061800000001", "inventory_list"))
    assert manifest([ManifestReceptacle(rid(1), items)])["dispatch"]["item_count"] == 2


def test_empty_receptacle_is_allowed_in_listing() -> None:
    assert manifest([ManifestReceptacle(rid(1))])["receptacles"][0]["items_weight_kg"] == "0"


@pytest.mark.parametrize(
    ("receptacles", "reason"),
    [
        ([], "receptacle"),
        ([ManifestReceptacle(rid(1, dispatch_serial=8))], "receptacle"),  # another dispatch
        ([ManifestReceptacle(rid(1)), ManifestReceptacle(rid(1, weight="3"))], "receptacle"),  # serial twice
        ([ManifestReceptacle(rid(1, last=True)), ManifestReceptacle(rid(2))], "receptacle"),  # last flag not on top
        ([ManifestReceptacle(rid(1, last=True)), ManifestReceptacle(rid(2, last=True))], "receptacle"),
        ([ManifestReceptacle(rid(1), (item("X1"), item("X1")))], "item"),
        ([ManifestReceptacle(rid(1), (item("X1"),)), ManifestReceptacle(rid(2), (item("X1"),))], "item"),
        ([ManifestReceptacle(rid(1), (item("X1", "CN99"),))], "customs_form"),
    ],
)
def test_inconsistent_dispatches_are_refused(receptacles: list, reason: str) -> None:
    with pytest.raises(InvalidManifest) as err:
        manifest(receptacles)
    assert err.value.reason == reason


def test_bad_dispatch_id_is_refused() -> None:
    with pytest.raises(InvalidS9):
        build_manifest(dispatch_id="nope", carrier="SGX", receptacles=[], prepared_at=NOW)
