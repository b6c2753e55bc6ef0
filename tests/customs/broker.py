"""Helpers for the broker API tests: a held declaration, one claimed by a broker."""

from __future__ import annotations

from datetime import datetime

from tests.customs.events import held, new_order_id

FILE = {"reason_code": "findings_resolved", "note": "Invoice checked against the goods."}
REJECT = {"reason_code": "misdeclared_goods", "note": "Invoice shows 5 CNY for a branded T-shirt."}


async def file_held(customs, channel: str = "mail"):
    """A declaration customs held for a broker before filing (an undervalued line)."""
    return await customs.file(held(new_order_id(), channel))


async def claimed(customs, headers, channel: str = "mail"):
    """A held declaration, claimed by the broker whose key `headers` carry."""
    declaration = await file_held(customs, channel)
    response = await customs.client.post(f"/v1/declarations/{declaration.id}/claim", headers=headers)
    assert response.status_code == 200, response.text
    return declaration


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)
