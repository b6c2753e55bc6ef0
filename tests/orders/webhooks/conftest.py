"""Fixtures of the webhook tests: real local HTTP receivers and an orders service that may deliver to them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.orders.webhooks.receiver import Receiver

# Loopback allowed (the receivers listen on 127.0.0.1), a quick sender, retries in tenths of a second.
WEBHOOK_SETTINGS: dict[str, Any] = {
    "webhook_allow_loopback": True,
    "webhook_allowed_ports": [],  # the receivers listen on free ports
    "webhook_poll_interval_s": 0.05,
    "webhook_retry_base_s": 0.1,
    "webhook_retry_max_s": 2.0,
    "webhook_timeout_s": 3.0,
}


@pytest.fixture
async def receivers():
    """Start receivers (`await receivers(respond)`); stopped at the end of the test."""
    started: list[Receiver] = []

    async def start(respond: Any = None) -> Receiver:
        receiver = Receiver() if respond is None else Receiver(respond=respond)
        await receiver.start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        await receiver.stop()


@pytest.fixture
async def start_webhook_orders(start_orders):
    """start_orders with the webhook test settings; more overrides as keyword arguments."""

    async def start(**overrides: Any):
        return await start_orders(**{**WEBHOOK_SETTINGS, **overrides})

    return start


@pytest.fixture
async def orders(start_webhook_orders):
    return await start_webhook_orders()
