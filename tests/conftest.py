"""Fixtures every test package uses: a real nats-server and a fresh database per test."""

from __future__ import annotations

import pytest

from tests.support import NATS_URL, DatabaseProvider, NatsServer, delete_silkgate_streams


@pytest.fixture(scope="session")
def nats_server_url():
    """The machine's NATS when SILKGATE_TEST_NATS_URL is set (CI), else our own nats-server on a free port."""
    if NATS_URL:
        yield NATS_URL
        return
    server = NatsServer()
    server.start()
    yield server.url
    server.cleanup()


@pytest.fixture
async def nats_url(nats_server_url):
    """A clean slate of silkgate streams for each test."""
    await delete_silkgate_streams(nats_server_url)
    return nats_server_url


@pytest.fixture(scope="session")
def _database_provider(tmp_path_factory):
    provider = DatabaseProvider(tmp_path_factory.mktemp("db"))
    yield provider
    import asyncio

    asyncio.run(provider.drop_all())


@pytest.fixture
def database_provider(_database_provider):
    return _database_provider
