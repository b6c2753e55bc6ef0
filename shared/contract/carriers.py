"""The carriers an order may name: the published list (the OpenAPI documents and intake use it).

Postal numbers an express parcel's waybill under its carrier's scheme (services.postal.domain.carriers); a code
it has no scheme for could never travel, so intake refuses it (issue 16: such an order was accepted, then stalled).
"""

from __future__ import annotations

CARRIERS: dict[str, str] = {
    "DHL": "DHL Express",
    "SFX": "SF Express",
    "SGE": "silkgate economy line (sandbox)",
    "SGX": "silkgate express (sandbox)",
}

# The S9 receptacle weight field holds at most 999.9 kg (one decimal): a heavier parcel can never be bagged.
MAX_PARCEL_WEIGHT_KG = "999.9"


def carrier_description() -> str:
    return "Express carrier code, one of " + ", ".join(f"`{code}` ({name})" for code, name in CARRIERS.items())
