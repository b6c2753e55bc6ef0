"""Fixtures of the orders tests: a running orders service on a real database and a real nats-server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.orders.app import create_app
from services.orders.models import metadata
from services.orders.settings import OrdersSettings
from shared.contract.envelope import Envelope
from tests.support import create_api_key, running_service

# The partners every orders test has: (code, kind, name, the merchant it serves).
PARTNERS = (("ALIPAY", "payment", "Alipay", "M-KASHGAR"), ("WECHATPAY", "payment", "WeChat Pay", "M-ALMATY"),
            ("YTO", "logistics", "YTO Express", "M-KASHGAR"), ("ZTO", "logistics", "ZTO Express", "M-ALMATY"))


async def register_partners(app: Any) -> None:
    """The merchants and the partners of PARTNERS, registered and bound as ops would."""
    from services.orders import partners
    from services.orders.keys import ensure_merchant

    async with app.state.runtime.db.transaction() as session:
        for merchant in ("M-KASHGAR", "M-ALMATY"):
            await ensure_merchant(session, code=merchant, name=merchant)
        for code, kind, name, merchant in PARTNERS:
            await partners.add_partner(session, code=code, kind=kind, name=name)
            await partners.bind(session, code=code, merchant_code=merchant)


@dataclass
class Orders:
    """A running orders service with a client and a key per role."""

    app: Any
    client: httpx.AsyncClient
    merchant: dict[str, str]
    other_merchant: dict[str, str]
    ops: dict[str, str]
    payment: dict[str, str]  # ALIPAY, a payment provider bound to M-KASHGAR (the merchant)
    other_payment: dict[str, str] = field(default_factory=dict)  # WECHATPAY, bound to M-ALMATY (the other merchant)
    logistics: dict[str, str] = field(default_factory=dict)  # YTO, a logistics company bound to M-KASHGAR
    other_logistics: dict[str, str] = field(default_factory=dict)  # ZTO, bound to M-ALMATY only

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    async def post_order(self, body: dict[str, Any], *, key: str | None = None,
                         headers: dict[str, str] | None = None) -> httpx.Response:
        """POST /v1/orders as the merchant with an Idempotency-Key (the merchant order number unless given)."""
        merged = {**self.merchant, "Idempotency-Key": key or f"key-{body.get('merchant_order_no')}", **(headers or {})}
        return await self.client.post("/v1/orders", json=body, headers=merged)

    async def create_order(self, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        response = await self.post_order(body, **kwargs)
        assert response.status_code == 201, response.text
        return response.json()

    async def counts(self) -> dict[str, int]:
        """Rows per table: what a request stored (or did not)."""
        names = ("orders", "order_events", "outbox", "idempotency_keys")
        async with self.runtime.db.reader() as session:
            return {name: (await session.execute(select(func.count()).select_from(metadata.tables[name])))
                    .scalar_one() for name in names}

    async def outbox_envelopes(self, event_type: str | None = None) -> list[Envelope]:
        """Events this service wrote to its outbox, oldest first."""
        table = self.runtime.tables.outbox
        query = select(table.c.payload).order_by(table.c.id)
        if event_type is not None:
            query = query.where(table.c.event_type == event_type)
        async with self.runtime.db.reader() as session:
            return [Envelope.model_validate_json(p) for p in (await session.scalars(query)).all()]

    async def get_order(self, order_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = await self.client.get(f"/v1/orders/{order_id}", headers=headers or self.merchant)
        assert response.status_code == 200, response.text
        return response.json()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def orders_settings(database_provider, nats_url):
    """Settings factory: a fresh database per test, our nats-server, fast consumers; override what a test needs."""

    async def make(**overrides: Any) -> OrdersSettings:
        url = await database_provider.url_for("orders", metadata)
        defaults = {"database_url": url, "nats_url": nats_url, "migrate_on_start": False,
                    "consumer_fetch_timeout_s": 0.2, "relay_idle_interval_s": 0.02, "backlog_poll_interval_s": 0.05,
                    "consumer_backoff_s": [0.2, 0.5]}
        return OrdersSettings(**{**defaults, **overrides})

    return make


@pytest.fixture
async def start_orders(orders_settings):
    """Start an orders service (settings overrides as keyword arguments); stopped at the end of the test."""
    stack: list[Any] = []

    async def start(**overrides: Any) -> Orders:
        context = running_service(create_app, await orders_settings(**overrides))
        app, client = await context.__aenter__()
        stack.append(context)
        await register_partners(app)
        keys = {
            "merchant": await create_api_key(app, role="merchant", owner="M-KASHGAR"),
            "other_merchant": await create_api_key(app, role="merchant", owner="M-ALMATY"),
            "ops": await create_api_key(app, role="ops", owner="ops"),
            "payment": await create_api_key(app, role="payment", owner="ALIPAY"),
            "other_payment": await create_api_key(app, role="payment", owner="WECHATPAY"),
            "logistics": await create_api_key(app, role="logistics", owner="YTO"),
            "other_logistics": await create_api_key(app, role="logistics", owner="ZTO"),
        }
        return Orders(app=app, client=client, **{role: bearer(key) for role, key in keys.items()})

    yield start
    for context in reversed(stack):
        await context.__aexit__(None, None, None)


@pytest.fixture
async def orders(start_orders) -> Orders:
    """The orders service with its workers (relay, consumers) running."""
    return await start_orders()
