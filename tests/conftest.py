"""Fixtures every test package uses: a real nats-server and a fresh database per test."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shared.ceb.signing import SigningIdentity
from shared.certificates import CertificatePair, ensure_pair
from tests.support import NATS_URL, DatabaseProvider, NatsServer, delete_silkgate_streams


def pytest_collection_modifyitems(config, items):
    """Mark the tests that never reach the session's NATS (`own_bus`: real processes with their own nats-server, or
    no bus at all). CI runs them beside the rest against the machine's NATS, whose streams every other test wipes."""
    for item in items:
        if "nats_server_url" not in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.own_bus)


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


@dataclass(frozen=True)
class Certificates:
    """The filer's (customs) and the authority's signing identities of a test run."""

    customs: CertificatePair
    authority: CertificatePair

    @property
    def authority_identity(self) -> SigningIdentity:
        return SigningIdentity.from_files(self.authority.key_file, self.authority.cert_file)


@pytest.fixture(scope="session")
def certificates(tmp_path_factory) -> Certificates:
    directory = tmp_path_factory.mktemp("certs")
    return Certificates(ensure_pair(directory, "customs"), ensure_pair(directory, "authority"))


def customs_certificate_settings(certificates: Certificates) -> dict:
    """The customs settings that point at a test run's certificates (nothing written under ./var)."""
    return {"signing_key_file": certificates.customs.key_file, "signing_cert_file": certificates.customs.cert_file,
            "authority_cert_file": certificates.authority.cert_file}
