from __future__ import annotations

import pytest

from services.authority.models import metadata
from tests.authority.support import CustomsReceiver, Keys, authority_settings


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> Keys:
    return Keys(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def receiver(keys) -> CustomsReceiver:
    return CustomsReceiver(keys)


@pytest.fixture
async def settings_for(tmp_path, keys, database_provider):
    """Settings of an authority on a fresh database (SQLite, or PostgreSQL with SILKGATE_TEST_POSTGRES_URL)."""
    url = await database_provider.url_for("authority", metadata)

    def make(**overrides):
        return authority_settings(tmp_path, keys, url, **overrides)

    return make
