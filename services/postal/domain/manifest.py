"""The dispatch handoff manifest as a JSON-able dict: PREDES/CARDIT content per dispatch, ITMATT per item.

UPU messages (DOMAIN.md §4): PREDES/CARDIT pre-advise a dispatch and its receptacles to the destination post or the
carrier; ITMATT carries each item's data with its CN22/CN23 contents. Money and weights are decimal strings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.postal.domain.errors import InvalidManifest
from services.postal.domain.s9 import parse_dispatch_id, parse_receptacle_id

MANIFEST_VERSION = 1
# The forms a declaration can take (DeclarationFiled.form in the contract).
CUSTOMS_FORMS = frozenset({"CN22", "CN23", "express_A", "express_B", "express_C", "express_D", "inventory_list"})


@dataclass(frozen=True, slots=True)
class ManifestParty:
    """Sender or addressee as ITMATT carries them."""

    name: str
    address: str
    country: str
    city: str | None = None
    postal_code: str | None = None
    phone: str | None = None

    @classmethod
    def of(cls, party: Any) -> ManifestParty:
        """Copy the fields ITMATT needs from any party-like object (e.g. the contract's Party)."""
        return cls(
            name=party.name,
            address=party.address,
            country=party.country,
            city=getattr(party, "city", None),
            postal_code=getattr(party, "postal_code", None),
            phone=getattr(party, "phone", None),
        )


@dataclass(frozen=True, slots=True)
class ManifestLine:
    """One contents line of CN22/CN23."""

    description: str
    quantity: Decimal
    weight_kg: Decimal
    value: Decimal
    hs_code: str
    origin_country: str


@dataclass(frozen=True, slots=True)
class ManifestItem:
    """One item with its customs data; `customs_form` is CN22/CN23, express_A–D or inventory_list."""

    tracking_number: str
    sender: ManifestParty
    addressee: ManifestParty
    contents_category: str
    value: Decimal
    currency: str
    weight_kg: Decimal
    customs_form: str
    lines: tuple[ManifestLine, ...] = ()
    declaration_id: str | None = None
    trade_mode: str | None = None


@dataclass(frozen=True, slots=True)
class ManifestReceptacle:
    """One closed receptacle (S9 id) and the items in it."""

    receptacle_id: str
    items: tuple[ManifestItem, ...] = field(default_factory=tuple)


def _amount(value: Decimal) -> str:
    return format(Decimal(value), "f")


def _party(party: ManifestParty) -> dict[str, Any]:
    return {
        "name": party.name,
        "address": party.address,
        "city": party.city,
        "postal_code": party.postal_code,
        "country": party.country,
        "phone": party.phone,
    }


def _item(item: ManifestItem, receptacle_id: str) -> dict[str, Any]:
    if item.customs_form not in CUSTOMS_FORMS:
        raise InvalidManifest("customs_form", f"{item.tracking_number}: unknown customs form {item.customs_form!r}")
    return {
        "tracking_number": item.tracking_number,
        "receptacle_id": receptacle_id,
        "sender": _party(item.sender),
        "addressee": _party(item.addressee),
        "contents_category": item.contents_category,
        "value": _amount(item.value),
        "currency": item.currency,
        "weight_kg": _amount(item.weight_kg),
        "customs": {"form": item.customs_form, "declaration_id": item.declaration_id, "trade_mode": item.trade_mode},
        "lines": [
            {
                "line_no": number,
                "description": line.description,
                "quantity": _amount(line.quantity),
                "weight_kg": _amount(line.weight_kg),
                "value": _amount(line.value),
                "hs_code": line.hs_code,
                "origin_country": line.origin_country,
            }
            for number, line in enumerate(item.lines, start=1)
        ],
    }


def _check_receptacles(dispatch_id: str, receptacles: Sequence[ManifestReceptacle]) -> None:
    serials: set[int] = set()
    last_serials: list[int] = []
    for receptacle in receptacles:
        parsed = parse_receptacle_id(receptacle.receptacle_id)
        if str(parsed.dispatch) != dispatch_id:
            raise InvalidManifest("receptacle", f"{receptacle.receptacle_id} is not in dispatch {dispatch_id}")
        if parsed.receptacle_serial in serials:
            raise InvalidManifest("receptacle", f"receptacle serial {parsed.receptacle_serial} appears twice")
        serials.add(parsed.receptacle_serial)
        if parsed.is_last:
            last_serials.append(parsed.receptacle_serial)
    # S9: the highest-receptacle flag marks the last receptacle, so at most one has it and none is numbered above it.
    if len(last_serials) > 1 or (last_serials and last_serials[0] != max(serials)):
        raise InvalidManifest("receptacle", "only the highest-numbered receptacle may carry the last-receptacle flag")


def _receptacle_row(receptacle: ManifestReceptacle) -> dict[str, Any]:
    parsed = parse_receptacle_id(receptacle.receptacle_id)
    return {
        "receptacle_id": receptacle.receptacle_id,
        "serial": parsed.receptacle_serial,
        "is_last": parsed.is_last,
        "registered": parsed.registered,
        "weight_kg": _amount(parsed.weight_kg),  # gross, as on the S9 label
        "item_count": len(receptacle.items),
        "items_weight_kg": _amount(sum((item.weight_kg for item in receptacle.items), Decimal(0))),
        "tracking_numbers": [item.tracking_number for item in receptacle.items],
    }


def build_manifest(
    *,
    dispatch_id: str,
    carrier: str,
    receptacles: Sequence[ManifestReceptacle],
    prepared_at: datetime,
) -> dict[str, Any]:
    """The handoff manifest of a dispatch: {"dispatch": PREDES/CARDIT header, "receptacles": …, "items": ITMATT}."""
    dispatch = parse_dispatch_id(dispatch_id)
    if not receptacles:
        raise InvalidManifest("receptacle", f"dispatch {dispatch_id} has no receptacles")
    _check_receptacles(dispatch_id, receptacles)
    ordered = sorted(receptacles, key=lambda r: r.receptacle_id)
    receptacle_rows = [_receptacle_row(receptacle) for receptacle in ordered]
    item_rows = [_item(item, r.receptacle_id) for r in ordered for item in r.items]
    duplicates = sorted(number for number, n in Counter(row["tracking_number"] for row in item_rows).items() if n > 1)
    if duplicates:
        raise InvalidManifest("item", f"items appear more than once: {', '.join(duplicates)}")
    total_kg = sum((Decimal(row["weight_kg"]) for row in receptacle_rows), Decimal(0))
    return {
        "manifest_version": MANIFEST_VERSION,
        "prepared_at": prepared_at.isoformat(),
        "dispatch": {
            "dispatch_id": dispatch_id,
            "origin_office": dispatch.origin,
            "destination_office": dispatch.destination,
            "mail_category": dispatch.category,
            "mail_subclass": dispatch.subclass,
            "year_digit": dispatch.year_digit,
            "serial": dispatch.serial,
            "carrier": carrier,
            "receptacle_count": len(receptacle_rows),
            "item_count": len(item_rows),
            "weight_kg": _amount(total_kg),
        },
        "receptacles": receptacle_rows,
        "items": item_rows,
    }
