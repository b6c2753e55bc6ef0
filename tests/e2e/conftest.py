"""One real stack (processes, nats-server, databases) shared by the journey tests of a module."""

from __future__ import annotations

import pytest_asyncio

from shared.stack import Stack
from tests.e2e.journey import Actors
from tests.support import POSTGRES_URL

# Fast consolidation and a quick sandbox carrier, so a parcel goes from order to delivered in seconds.
FAST = {
    "SILKGATE_POSTAL_MAX_RECEPTACLE_AGE_S": "1",
    "SILKGATE_POSTAL_MAX_DISPATCH_AGE_S": "1",
    "SILKGATE_POSTAL_CONSOLIDATION_TICK_S": "0.2",
    "SILKGATE_POSTAL_HANDOFF_POLL_S": "0.2",
    "SILKGATE_CARRIER_STEP_INTERVAL_S": "0.2",
    "SILKGATE_CUSTOMS_RANDOM_INSPECTION_RATE": "0",
    # A killed worker's unacked messages and leased dispatches come back after these (production: 30 s, 60 s).
    "SILKGATE_ORDERS_CONSUMER_ACK_WAIT_S": "5",
    "SILKGATE_CUSTOMS_CONSUMER_ACK_WAIT_S": "5",
    "SILKGATE_POSTAL_CONSUMER_ACK_WAIT_S": "5",
    "SILKGATE_POSTAL_HANDOFF_LEASE_S": "5",
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("stack"), postgres_url=POSTGRES_URL, extra_env=FAST)
    await stack.start()
    yield stack
    await stack.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def actors(stack):
    actors = Actors(stack)
    yield actors
    await actors.close()
