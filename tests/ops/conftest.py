"""The ops tests run an orders service (the orders tests' fixtures) against the real nats-server."""

from tests.orders.conftest import orders, orders_settings, start_orders  # noqa: F401 - fixtures
