"""Console tests: browsers (clients with their own cookies) signed in as brokers of the running customs service."""

from __future__ import annotations

import pytest

from tests.customs.console.pages import ConsoleClient
from tests.support import create_api_key


async def signed_in(customs, owner: str) -> ConsoleClient:
    """A browser signed in with a new key of the broker `owner`."""
    browser = ConsoleClient.of(customs)
    key = await create_api_key(customs.app, role="broker", owner=owner, name=f"{owner} key")
    response = await browser.sign_in(key)
    assert response.status_code == 303, response.text
    return browser


@pytest.fixture
async def broker(customs):
    browser = await signed_in(customs, "Kashgar Brokerage")
    yield browser
    await browser.close()


@pytest.fixture
async def broker2(customs):
    browser = await signed_in(customs, "Urumqi Brokerage")
    yield browser
    await browser.close()
