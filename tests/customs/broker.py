"""Helpers for the broker API tests: a held declaration, one claimed by a broker, a review body."""

from __future__ import annotations

from datetime import datetime

from tests.customs.events import held, new_order_id

REVIEW = {"reason_code": "documents_verified", "note": "Invoice checked against the goods."}


async def file_held(customs, channel: str = "mail"):
    """A declaration customs held for a broker (a vague description)."""
    return await customs.file(held(new_order_id(), channel))


async def claimed(customs, headers, channel: str = "mail"):
    """A held declaration, claimed by the broker whose key `headers` carry."""
    declaration = await file_held(customs, channel)
    response = await customs.client.post(f"/v1/declarations/{declaration.id}/claim", headers=headers)
    assert response.status_code == 200, response.text
    return declaration


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)
