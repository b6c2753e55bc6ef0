"""Carrier adapters: how a dispatch manifest reaches a carrier. The default posts JSON over HTTP (httpx)."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from services.postal.settings import PostalSettings


class HandoffFailed(Exception):
    """The carrier did not take the manifest (unreachable, timeout, or a non-2xx answer); retried later."""


class CarrierAdapter(Protocol):
    async def hand_off(self, *, carrier: str, dispatch_id: str, manifest: dict[str, Any]) -> dict[str, Any]:
        """Deliver one dispatch's manifest; returns the carrier's receipt or raises HandoffFailed."""
        ...

    async def aclose(self) -> None: ...


class HttpCarrierAdapter:
    """POST the manifest to the carrier's URL with `Idempotency-Key: <dispatch id>`, within a bounded timeout.

    The key makes a repeated handoff (we crashed after the carrier took it, before we recorded it) harmless:
    the carrier answers with the receipt it gave the first time.
    """

    def __init__(self, settings: PostalSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self._client = httpx.AsyncClient(timeout=settings.handoff_timeout_s, transport=transport)

    async def hand_off(self, *, carrier: str, dispatch_id: str, manifest: dict[str, Any]) -> dict[str, Any]:
        url = self.settings.carrier_url(carrier)
        headers = {"Idempotency-Key": dispatch_id}
        token = self.settings.carrier_tokens.get(carrier)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = await self._client.post(url, json=manifest, headers=headers)
        except httpx.HTTPError as exc:
            raise HandoffFailed(f"{type(exc).__name__} posting to {url}: {exc}"[:1000]) from exc
        if not response.is_success:
            raise HandoffFailed(f"{url} answered {response.status_code}: {response.text[:500]}")
        try:
            receipt = response.json()
        except ValueError:
            receipt = {"body": response.text[:1000]}
        return receipt if isinstance(receipt, dict) else {"body": receipt}

    async def aclose(self) -> None:
        await self._client.aclose()
