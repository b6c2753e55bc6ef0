"""The benchmark's load: orders offered at a fixed rate or as fast as accepted, the provider's payments, and the
steady merchants beside a flooding one (bench/run.py)."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable

import httpx

from bench.observer import Observer
from bench.orders import is_held, order_body, payment_items
from bench.report import percentiles
from shared.stack import Stack


class Load:
    """Offers orders at a fixed rate, or as fast as the system accepts them, single and batched."""

    def __init__(self, stack: Stack, args: argparse.Namespace, run: str) -> None:
        self.stack, self.args, self.run = stack, args, run
        self.next_n = 0
        self.accepted = 0
        self.throttled = 0
        self.errors: dict[str, int] = {}
        self.accept_times: list[float] = []
        self.payments = 0  # recorded by the payment provider (its own key, POST /v1/payments/batch)

    def take(self, count: int) -> list[int]:
        numbers = list(range(self.next_n, self.next_n + count))
        self.next_n += count
        return numbers

    def body(self, n: int) -> dict:
        return order_body(n, self.run, held=is_held(n, self.args.held_share))

    async def post(self, client: httpx.AsyncClient, path: str, **kwargs) -> httpx.Response:
        """POST, sent again after a dropped connection (the key makes it idempotent: a repeat is answered, not
        taken twice); the drops are counted among the errors."""
        for attempt in range(1, 6):
            try:
                return await client.post(path, **kwargs)
            except httpx.TransportError as exc:
                key = f"transport {type(exc).__name__}"
                self.errors[key] = self.errors.get(key, 0) + 1
                if attempt == 5:
                    raise
                await asyncio.sleep(0.5 * attempt)
        raise AssertionError("unreachable")

    async def send_single(self, client: httpx.AsyncClient, n: int) -> None:
        body = self.body(n)
        while True:
            response = await self.post(client, "/v1/orders", json=body,
                                       headers={"Idempotency-Key": body["merchant_order_no"]})
            if response.status_code == 429:
                self.throttled += 1
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                continue
            self._count(response.status_code, 1)
            if response.status_code == 201 and body.get("payment") is not None:
                await self.pay(client, [{"order_id": response.json()["id"], "payment": body["payment"]}])
            return

    async def send_batch(self, client: httpx.AsyncClient, numbers: list[int]) -> None:
        orders = [self.body(n) for n in numbers]
        key = f"batch-{self.run}-{numbers[0]}"
        while True:
            response = await self.post(client, "/v1/orders/batch", json={"orders": orders},
                                       headers={"Idempotency-Key": key}, timeout=60)
            if response.status_code == 429:
                self.throttled += 1
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                continue
            if response.status_code >= 300:
                self._count(response.status_code, len(numbers))
                return
            results = response.json().get("results", [])
            for result in results:
                self._count(result.get("status", 0), 1)
            await self.pay(client, payment_items(orders, results))
            return

    async def pay(self, client: httpx.AsyncClient, items: list[dict]) -> None:
        """The payment provider sends the payments of the e-commerce orders just accepted, in one batch: customs
        waits for the provider's payment document, never takes the order's own claim for it."""
        if not items:
            return
        headers = {"Authorization": f"Bearer {self.stack.keys['payment']}"}
        response = await self.post(client, "/v1/payments/batch", json={"payments": items}, headers=headers, timeout=60)
        if response.status_code != 200:
            key = f"payments {response.status_code}"
            self.errors[key] = self.errors.get(key, 0) + 1
            return
        self.payments += sum(1 for r in response.json()["results"] if r["status"] in (200, 201))

    def _count(self, status: int, count: int) -> None:
        if status == 201:
            self.accepted += count
            self.accept_times.extend([time.time()] * count)
        else:
            self.errors[str(status)] = self.errors.get(str(status), 0) + count

    async def offer(self, duration: float) -> None:
        headers = {"Authorization": f"Bearer {self.stack.keys['merchant']}"}
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=self.stack.url("orders"), headers=headers, timeout=30, limits=limits) as client:
            deadline = time.monotonic() + duration
            if self.args.rate:
                await self._fixed_rate(client, deadline)
            else:
                await asyncio.gather(*(self._as_fast_as_possible(client, deadline) for _ in range(self.args.clients)))

    def _unit(self, client: httpx.AsyncClient) -> Awaitable[None]:
        """One unit of work: a batch (with probability batch_share, weighted by orders) or a single order.

        The order numbers are taken now, before the request is scheduled, so the fixed-rate loop sees them taken."""
        if self.next_n % 100 < self.args.batch_share * 100:
            return self.send_batch(client, self.take(self.args.batch_size))
        return self.send_single(client, self.take(1)[0])

    async def _as_fast_as_possible(self, client: httpx.AsyncClient, deadline: float) -> None:
        while time.monotonic() < deadline:
            await self._unit(client)

    async def _fixed_rate(self, client: httpx.AsyncClient, deadline: float) -> None:
        pending: set[asyncio.Task] = set()
        started = time.monotonic()
        while time.monotonic() < deadline:
            due = int((time.monotonic() - started) * self.args.rate)
            while self.next_n < due:
                pending.add(asyncio.create_task(self._unit(client)))
            pending = {t for t in pending if not t.done()}
            await asyncio.sleep(0.01)
        await asyncio.gather(*pending)


class SteadyMerchant:
    """A merchant sending single orders at a steady rate while another floods (--flood): its latency is what
    fairness protects. Records its 201s' order ids and every 429."""

    def __init__(self, code: str, key: str, rate: float, run: str) -> None:
        self.code, self.key, self.rate, self.run = code, key, rate, run
        self.order_ids: list[str] = []
        self.throttled = 0
        self.errors: dict[str, int] = {}

    async def offer(self, base_url: str, duration: float) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
            pending: set[asyncio.Task] = set()
            started = time.monotonic()
            sent = 0
            while time.monotonic() - started < duration:
                while sent < int((time.monotonic() - started) * self.rate) + 1:
                    pending.add(asyncio.create_task(self._send(client, sent)))
                    sent += 1
                pending = {t for t in pending if not t.done()}
                await asyncio.sleep(0.02)
            await asyncio.gather(*pending)

    async def _send(self, client: httpx.AsyncClient, n: int) -> None:
        body = order_body(n, f"{self.run}{self.code}", held=False)
        while True:
            response = await client.post("/v1/orders", json=body, headers={"Idempotency-Key": body["merchant_order_no"]})
            if response.status_code == 429:
                self.throttled += 1
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                continue
            if response.status_code == 201:
                self.order_ids.append(response.json()["id"])
            else:
                self.errors[str(response.status_code)] = self.errors.get(str(response.status_code), 0) + 1
            return


async def steady_merchants(stack: Stack, args: argparse.Namespace, run: str) -> list[SteadyMerchant]:
    """Keys for the steady merchants of --flood (the stack's merchant M001 is the one flooding)."""
    from shared.keys import create_key
    from shared.stack import patched_env

    merchants = []
    with patched_env(stack.env):
        for index in range(1, args.steady_merchants + 1):
            code = f"S{index:03d}"
            _, key = await create_key(role="merchant", owner=code, name=f"steady merchant {index}")
            merchants.append(SteadyMerchant(code, key, args.steady_rate, run))
    return merchants


def steady_report(observer: Observer, merchants: list[SteadyMerchant]) -> dict:
    ids = {order_id for merchant in merchants for order_id in merchant.order_ids}
    chosen = [m for order_id, m in observer.milestones.items() if order_id in ids and "accepted" in m]

    def lat(target: str) -> dict[str, float | None]:
        return percentiles([m[target] - m["accepted"] for m in chosen if target in m])

    return {"merchants": [m.code for m in merchants], "rate_per_merchant": merchants[0].rate if merchants else 0,
            "accepted_orders": len(ids), "throttled_responses_429": sum(m.throttled for m in merchants),
            "errors": {k: sum(m.errors.get(k, 0) for m in merchants) for m in merchants for k in m.errors},
            "latency_s": {"accepted_to_waybill_issued": lat("waybill_issued"),
                          "accepted_to_released": lat("released"), "accepted_to_handed_off": lat("handed_off")}}
