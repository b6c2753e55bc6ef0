"""Helpers of the webhook tests: register endpoints, read the delivery log, wait for deliveries."""

from __future__ import annotations

from typing import Any

from tests.support import eventually


async def register(orders: Any, url: str, *, event_types: list[str] | None = None,
                   headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    """POST /v1/webhook-endpoints as the merchant (or `headers`); the created endpoint with its secret."""
    body = {"url": url, "event_types": event_types or ["*"], **fields}
    response = await orders.client.post("/v1/webhook-endpoints", json=body, headers=headers or orders.merchant)
    assert response.status_code == 201, response.text
    return response.json()


async def deliveries(orders: Any, endpoint_id: str, *, headers: dict[str, str] | None = None,
                     **params: Any) -> list[dict[str, Any]]:
    """The endpoint's delivery log, oldest first."""
    response = await orders.client.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries",
                                       params={"limit": 100, **params}, headers=headers or orders.merchant)
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))


async def endpoint(orders: Any, endpoint_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await orders.client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=headers or orders.merchant)
    assert response.status_code == 200, response.text
    return response.json()


async def deliveries_when(orders: Any, endpoint_id: str, predicate: Any, *, headers: dict[str, str] | None = None,
                          timeout: float = 15.0) -> list[dict[str, Any]]:
    """The delivery log once `predicate(log)` holds."""

    async def check():
        log = await deliveries(orders, endpoint_id, headers=headers)
        return log if predicate(log) else None

    return await eventually(check, timeout=timeout)


def all_succeeded(count: int):
    return lambda log: len(log) == count and all(d["status"] == "succeeded" for d in log)
