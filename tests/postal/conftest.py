"""Fixtures of the postal tests: a running postal service on a real nats-server and a fresh database."""

from __future__ import annotations

import functools
from contextlib import AsyncExitStack
from typing import Any

import pytest

from services.postal.adapters import HttpCarrierAdapter
from services.postal.app import create_app
from services.postal.models import metadata
from services.postal.settings import PostalSettings
from shared.db import Database
from tests.postal.support import Postal, Staging
from tests.support import running_service

# Nothing listens here: handoffs fail fast unless a test gives a carrier.
UNREACHABLE = "http://127.0.0.1:9/v1/manifests"


@pytest.fixture
async def postal_url(database_provider) -> str:
    return await database_provider.url_for("postal", metadata)


@pytest.fixture
def postal_settings(postal_url, nats_url):
    """Settings for a test postal service; quick ticks, no carrier unless one is given."""

    def make(**overrides: Any) -> PostalSettings:
        values: dict[str, Any] = {
            "database_url": postal_url, "nats_url": nats_url, "migrate_on_start": False,
            "consumer_fetch_timeout_s": 0.2, "consolidation_tick_s": 0.1, "handoff_poll_s": 0.1,
            "default_carrier_url": UNREACHABLE, "handoff_timeout_s": 2.0, "log_level": "WARNING",
            **overrides,
        }
        return PostalSettings(**values)

    return make


@pytest.fixture
async def start_postal(postal_settings):
    """Start postal services (several share one database, like replicas); all stop at the end of the test."""
    async with AsyncExitStack() as stack:

        async def start(*, adapter: Any = None, transport: Any = None, **overrides: Any) -> Postal:
            """`transport` routes the HTTP carrier adapter (e.g. to an in-process carrier); `adapter` replaces it."""
            settings = postal_settings(**overrides)
            if transport is not None:
                adapter = HttpCarrierAdapter(settings, transport=transport)
            factory = functools.partial(create_app, carrier_adapter=adapter)
            app, client = await stack.enter_async_context(running_service(factory, settings))
            await app.state.runtime.bus.wait_ready()
            return Postal(app, client)

        yield start


@pytest.fixture
async def postal_db(postal_url):
    """The test database without a running service, for use cases driven directly."""
    db = Database(postal_url)
    yield db
    await db.dispose()


@pytest.fixture
def staging(postal_db, postal_settings):
    """Make a Staging with settings overrides."""

    def make(**overrides: Any) -> Staging:
        return Staging(postal_db, postal_settings(**overrides))

    return make
