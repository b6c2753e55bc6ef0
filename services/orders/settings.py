"""Settings of the orders service (env prefix SILKGATE_ORDERS_)."""

from __future__ import annotations

from shared.settings import ServiceSettings, prefixed


class OrdersSettings(ServiceSettings):
    model_config = prefixed("orders")

    SERVICE: str = "orders"
