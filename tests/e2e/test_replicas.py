"""Two replicas of every service (API and worker processes) share the work without doing anything twice."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from shared.stack import Stack
from tests.e2e.conftest import FAST
from tests.e2e.journey import order, pay_for
from tests.e2e.test_faults import assert_stream_counts, scalar_rows
from tests.support import POSTGRES_URL

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PARCELS = 300


def handled_by(stack: Stack, process: str, event: str) -> int:
    """How many `event` log lines one process wrote (its own stdout file)."""
    path = stack.log_dir / f"{process}.out"
    return sum(1 for line in path.read_text(errors="replace").splitlines() if _event_of(line) == event)


def _event_of(line: str) -> str | None:
    """The event of a JSON log line (None for anything else the process printed)."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry.get("event") if isinstance(entry, dict) else None


async def test_two_replicas_share_the_work_and_do_nothing_twice(tmp_path):
    stack = Stack(tmp_path, postgres_url=POSTGRES_URL, extra_env=FAST, replicas=2)
    await stack.start()
    try:
        bodies = [order(("mail", "express", "ecommerce")[n % 3]) for n in range(PARCELS)]
        headers = {"Authorization": f"Bearer {stack.keys['merchant']}"}
        replica_api = f"http://127.0.0.1:{stack.replica_ports['orders'][0]}"
        async with httpx.AsyncClient(headers=headers, timeout=60) as client:
            for start in range(0, PARCELS, 50):
                base = stack.url("orders") if start % 100 == 0 else replica_api  # both API replicas take orders
                response = await client.post(f"{base}/v1/orders/batch", json={"orders": bodies[start:start + 50]},
                                             headers={"Idempotency-Key": f"replicas-{start}"})
                assert response.status_code == 200, response.text
        await pay_for(stack, bodies)  # the payment provider sends the e-commerce orders' payments
        orders_db = stack.env["SILKGATE_ORDERS_DATABASE_URL"]
        for _ in range(300):
            rows = dict(await scalar_rows(orders_db, "SELECT status, count(*) FROM orders GROUP BY status"))
            if rows.get("delivered") == PARCELS:
                break
            await asyncio.sleep(1)
        assert rows == {"delivered": PARCELS}
        postal_db, customs_db = stack.env["SILKGATE_POSTAL_DATABASE_URL"], stack.env["SILKGATE_CUSTOMS_DATABASE_URL"]
        assert await scalar_rows(postal_db, "SELECT order_id FROM waybills GROUP BY order_id HAVING count(*) > 1") == []
        assert await scalar_rows(customs_db,
                                 "SELECT order_id FROM declarations GROUP BY order_id HAVING count(*) > 1") == []
        assert await scalar_rows(postal_db,
                                 "SELECT tracking_number FROM waybills GROUP BY tracking_number HAVING count(*) > 1") == []
        await assert_stream_counts(stack, PARCELS, expected_dead=0)
        for service, event in (("customs", "declaration.filed"), ("postal", "waybill.issued")):
            first, second = handled_by(stack, f"{service}-worker", event), handled_by(stack, f"{service}-worker-2", event)
            # A batch redone after a lost race logs its events again, so the logs may count a parcel twice; the
            # database and stream counts above are the proof that nothing was done twice.
            assert first + second >= PARCELS, (service, first, second)
            assert first > 0 and second > 0, f"both {service} workers should have taken a share: {first}/{second}"
    finally:
        await stack.stop()
