"""What merchants, brokers and carriers do over HTTP, as small helpers for the end-to-end tests."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime

import httpx

from shared.stack import Stack

RESIDENT_ID = "11010519491231002X"
KASHGAR = {"name": "Kashgar Dried Fruit Co.", "phone": "+86 998 2821234", "address": "12 Silk Road, Kashgar",
           "country": "CN"}
ALMATY = {"name": "Aigerim Bekova", "phone": "+7 727 2501234", "address": "5 Abay Ave, Almaty", "country": "KZ"}
BERLIN = {"name": "Jonas Weber", "phone": "+49 30 1234567", "address": "Torstr. 1, Berlin", "country": "DE"}


def beijing_buyer(n: int = 0) -> dict:
    from bench.orders import resident_id

    return {"name": f"Li Lei {n}", "phone": f"+86 138 0013 {n % 10000:04d}", "address": f"{n} Chang'an Ave, Beijing",
            "country": "CN", "id_type": "resident_id", "id_number": resident_id(n) if n else RESIDENT_ID}


def line(name: str, hs: str, price: str, qty: int, currency: str, origin: str, kg: str = "0.5") -> dict:
    return {"line_no": 1, "sku": "SKU-1", "name": name, "hs_code": hs, "quantity": str(qty), "unit": "PCE",
            "unit_price": price, "total_price": f"{float(price) * qty:.2f}", "currency": currency,
            "origin_country": origin, "net_weight_kg": kg}


def order(channel: str, *, name: str | None = None, hs: str | None = None, sender: dict | None = None,
          origin: str | None = None, payment: bool = True, payer: str | None = None, buyer: int | None = None) -> dict:
    """A valid order of `channel` to a buyer of its own (many parcels to one buyer would rightly look like split
    purchases to customs); `name`/`hs` change the goods (e.g. "Gift" sends it to a broker)."""
    number = f"E2E-{uuid.uuid4().hex[:10]}"
    buyer = buyer if buyer is not None else random.randrange(10_000, 10_000_000)
    if channel == "mail":
        consignee = {**ALMATY, "name": f"Aigerim Bekova {buyer}", "phone": f"+7 727 {buyer:07d}"}
        body = {"channel": "mail", "direction": "export", "mail_product": "parcel", "consignee": consignee,
                "lines": [line(name or "Dried apricots", hs or "081310", "6.50", 2, "USD", origin or "CN")]}
    elif channel == "express":
        consignee = {**BERLIN, "name": f"Jonas Weber {buyer}", "phone": f"+49 30 {buyer:07d}"}
        body = {"channel": "express", "direction": "export", "carrier": "SGX", "consignee": consignee,
                "lines": [line(name or "Silk scarf", hs or "621410", "45.00", 1, "EUR", origin or "CN")]}
    else:
        consignee = beijing_buyer(buyer)
        body = {"channel": "ecommerce", "direction": "import", "trade_mode": "9610", "consignee": consignee,
                "lines": [line(name or "Cashmere sweater", hs or "6110120000", "380.00", 1, "CNY", origin or "MN")]}
    total = body["lines"][0]["total_price"]
    body.update(merchant_order_no=number, sender=sender or KASHGAR, currency=body["lines"][0]["currency"],
                goods_value=total, amount_paid=total)
    if channel == "ecommerce" and payment:
        body["payment"] = payment_body(body, payer=payer)
    return body


def export_order(buyer: int, *, hs: str = "0813100000") -> dict:
    """An e-commerce export (9610) to a buyer in Almaty, with the payment the buyer made (the provider's claim)."""
    consignee = {"name": f"Aigerim Bekova {buyer}", "phone": f"+7 727 {buyer:07d}",
                 "address": "45 Abay Ave, Almaty", "country": "KZ"}
    body = {"channel": "ecommerce", "direction": "export", "trade_mode": "9610", "consignee": consignee,
            "merchant_order_no": f"E2E-X{buyer}", "sender": KASHGAR, "currency": "CNY",
            "lines": [line("Dried apricots", hs, "45.00", 2, "CNY", "CN")]}
    body.update(goods_value="90.00", amount_paid="90.00")
    body["payment"] = {"payer_name": consignee["name"], "payer_id_type": "passport", "payer_id_number": "N1234567",
                       "provider": "Alipay", "transaction_id": f"AP-X{buyer}", "amount": "90.00", "currency": "CNY",
                       "paid_at": datetime.now(UTC).isoformat()}
    return body


def payment_body(order_body: dict, *, payer: str | None = None) -> dict:
    consignee = order_body["consignee"]
    return {"payer_name": payer or consignee["name"], "payer_id_type": "resident_id",
            "payer_id_number": consignee["id_number"], "provider": "Alipay",
            "transaction_id": f"AP{uuid.uuid4().hex[:12]}", "amount": order_body["amount_paid"],
            "currency": order_body["currency"], "paid_at": datetime.now(UTC).isoformat()}


async def pay_for(stack: Stack, bodies: list[dict], *, key: str = "payment") -> None:
    """The payment provider sends the payment document of every e-commerce order among `bodies` (placed by the
    merchant, found by merchant order number), in batches, as a platform's provider does; safe to repeat (a
    payment recorded before answers 200), and retried through the faults a test may be causing."""
    claims = {b["merchant_order_no"]: b["payment"] for b in bodies if b["channel"] == "ecommerce" and b.get("payment")}
    if not claims:
        return
    merchant = {"Authorization": f"Bearer {stack.keys['merchant']}"}
    ids: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=stack.url("orders"), headers=merchant, timeout=30) as client:
        cursor = None
        while True:
            params = {"channel": "ecommerce", "limit": 100, **({"starting_after": cursor} if cursor else {})}
            page = (await _retrying(lambda params=params: client.get("/v1/orders", params=params))).json()
            ids |= {o["merchant_order_no"]: o["id"] for o in page["data"] if o["merchant_order_no"] in claims}
            if not page["has_more"]:
                break
            cursor = page["next_cursor"]
    assert set(ids) == set(claims), f"orders not found: {sorted(set(claims) - set(ids))[:5]}"
    items = [{"order_id": ids[number], "payment": payment} for number, payment in claims.items()]
    provider = {"Authorization": f"Bearer {stack.keys[key]}"}
    async with httpx.AsyncClient(base_url=stack.url("orders"), headers=provider, timeout=60) as client:
        for start in range(0, len(items), 200):
            chunk = {"payments": items[start:start + 200]}
            response = await _retrying(lambda chunk=chunk: client.post("/v1/payments/batch", json=chunk))
            statuses = {r["status"] for r in response.json()["results"]}
            assert statuses <= {200, 201}, response.text


async def _retrying(request) -> httpx.Response:
    """An idempotent request, again until a service killed by a fault test answers 2xx."""
    while True:
        try:
            response = await request()
        except httpx.HTTPError:
            await asyncio.sleep(0.5)
            continue
        if response.status_code in (429, 502, 503):
            await asyncio.sleep(float(response.headers.get("retry-after", "0.5")))
            continue
        assert response.status_code < 300, response.text
        return response


class Actors:
    """HTTP clients for the merchant, the brokers, the payment company and ops."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        auth = lambda role: {"Authorization": f"Bearer {stack.keys[role]}"}  # noqa: E731
        self.merchant = httpx.AsyncClient(base_url=stack.url("orders"), headers=auth("merchant"), timeout=30)
        # ALIPAY and YTO serve the merchant (M001); the stack binds WECHATPAY and ZTO to another merchant only.
        self.payment = httpx.AsyncClient(base_url=stack.url("orders"), headers=auth("payment"), timeout=30)
        self.logistics = httpx.AsyncClient(base_url=stack.url("orders"), headers=auth("logistics"), timeout=30)
        self.broker = httpx.AsyncClient(base_url=stack.url("customs"), headers=auth("broker"), timeout=30)
        self.broker2 = httpx.AsyncClient(base_url=stack.url("customs"), headers=auth("broker2"), timeout=30)
        self.postal_ops = httpx.AsyncClient(base_url=stack.url("postal"), headers=auth("ops"), timeout=30)

    async def close(self) -> None:
        for client in (self.merchant, self.payment, self.logistics, self.broker, self.broker2, self.postal_ops):
            await client.aclose()

    async def place(self, body: dict, *, pay: bool = True) -> dict:
        """The merchant sends the order; for an e-commerce order with a payment claim the payment provider then
        sends its own payment document, as on a real platform (`pay=False`: the test sends it itself)."""
        response = await self.merchant.post("/v1/orders", json=body, headers={"Idempotency-Key": body["merchant_order_no"]})
        assert response.status_code == 201, response.text
        placed = response.json()
        if pay and body["channel"] == "ecommerce" and body.get("payment"):
            await self.pay(placed["id"], body["payment"])
        return placed

    async def pay(self, order_id: str, payment: dict) -> dict:
        """The payment provider's payment of an order: its receipt."""
        response = await self.payment.post(f"/v1/orders/{order_id}/payment", json=payment)
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def get(self, order_id: str) -> dict:
        response = await self.merchant.get(f"/v1/orders/{order_id}")
        assert response.status_code == 200, response.text
        return response.json()

    async def wait_status(self, order_id: str, *statuses: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        current: dict = {}
        while time.monotonic() < deadline:
            current = await self.get(order_id)
            if current["status"] in statuses:
                return current
            await asyncio.sleep(0.2)
        raise AssertionError(f"order {order_id} stayed {current.get('status')} (wanted {statuses}): {current}")

    async def declaration_of(self, order_id: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            page = (await self.broker.get("/v1/declarations", params={"order_id": order_id})).json()
            if page["data"]:
                return page["data"][0]
            await asyncio.sleep(0.2)
        raise AssertionError(f"no declaration for {order_id}")

    async def decide(self, declaration_id: str, action: str, *, client: httpx.AsyncClient | None = None,
                     reason: str = "findings_resolved", body: dict | None = None) -> httpx.Response:
        """Claim the declaration and act on it as a broker (file, reject, cancel, amend, answer …)."""
        client = client or self.broker
        claim = await client.post(f"/v1/declarations/{declaration_id}/claim")
        assert claim.status_code in (200, 201), claim.text
        return await client.post(f"/v1/declarations/{declaration_id}/{action}",
                                 json=body or {"reason_code": reason, "note": "e2e broker"})

    async def describe_and_file(self, declaration_id: str, name: str) -> httpx.Response:
        """What a broker does with a vague description: names the goods on every line, then files."""
        detail = (await self.broker.get(f"/v1/declarations/{declaration_id}")).json()
        amend = await self.decide(declaration_id, "amend", body={
            "lines": [{"line_no": line["line_no"], "name": name} for line in detail["lines"]],
            "reason_code": "description_corrected", "note": "e2e broker: photo checked"})
        assert amend.status_code == 200, amend.text
        return await self.broker.post(f"/v1/declarations/{declaration_id}/file",
                                      json={"reason_code": "findings_resolved"})

    async def parcel(self, tracking_number: str) -> dict:
        response = await self.postal_ops.get(f"/v1/parcels/{tracking_number}")
        assert response.status_code == 200, response.text
        return response.json()
