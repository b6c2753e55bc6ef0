"""`silkgate demo`: keys for a demo merchant and broker, sample parcels of every channel, followed to the end.

The e-commerce parcels clear on three documents from three parties, as on a real platform: the merchant sends the
order, a sandbox payment provider (SANDBOXPAY, registered and bound to the demo merchant over the ops API, with a
key of its own) sends each payment, and postal issues the waybill — or, for the parcel the sandbox logistics
company (SANDBOXLOG) carries, that company posts its own waybill and postal adopts its number.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import click
import httpx

from shared.settings import data_dir

FINAL = {"delivered", "rejected", "cancelled", "returned"}
RESIDENT_ID = "11010519491231002X"  # GB 11643 test vector (valid check character)
MERCHANT = "DEMO"
# The demo's other two parties: (code, kind, name).
PAYMENT_PROVIDER = ("SANDBOXPAY", "payment", "Sandbox Pay")
LOGISTICS_COMPANY = ("SANDBOXLOG", "logistics", "Sandbox Logistics")


def _party(name: str, phone: str, address: str, country: str, **extra) -> dict:
    return {"name": name, "phone": phone, "address": address, "country": country, **extra}


def _line(name: str, hs: str, price: str, qty: int, currency: str, origin: str, kg: str) -> dict:
    total = f"{float(price) * qty:.2f}"
    return {"line_no": 1, "sku": name[:3].upper() + "-1", "name": name, "hs_code": hs, "quantity": str(qty),
            "unit": "PCE", "unit_price": price, "total_price": total, "currency": currency, "origin_country": origin,
            "net_weight_kg": kg}


def _order(no: str, channel: str, direction: str, line: dict, consignee: dict, sender: dict, **extra) -> dict:
    value = line["total_price"]
    return {"merchant_order_no": no, "channel": channel, "direction": direction, "sender": sender,
            "consignee": consignee, "lines": [line], "currency": line["currency"], "goods_value": value,
            "amount_paid": value, **extra}


def sample_orders(run: str) -> list[tuple[str, dict]]:
    """One parcel per channel, a green-channel one, and one whose vague description sends it to a broker."""
    kashgar = _party("Kashgar Dried Fruit Co.", "+86 998 2821234", "12 Silk Road, Kashgar, Xinjiang", "CN")
    almaty = _party("Aigerim Bekova", "+7 727 2501234", "5 Abay Ave, Almaty", "KZ")
    berlin = _party("Jonas Weber", "+49 30 1234567", "Torstr. 1, Berlin", "DE")
    beijing = _party("Li Lei", "+86 138 0013 8000", "1 Chang'an Ave, Dongcheng, Beijing", "CN",
                     id_type="resident_id", id_number=RESIDENT_ID)
    almaty_farm = _party("Tulpar Honey LLP", "+7 727 3334455", "8 Raiymbek Ave, Almaty", "KZ")
    paid = datetime.now(UTC).isoformat()

    def claim(number: int, amount: str) -> dict:
        """What the order says about its payment (its claim); the provider sends the payment document itself."""
        return {"payer_name": "Li Lei", "payer_id_type": "resident_id", "payer_id_number": RESIDENT_ID,
                "provider": PAYMENT_PROVIDER[2], "transaction_id": f"SP{run}{number}", "amount": amount,
                "currency": "CNY", "paid_at": paid}

    return [
        ("mail parcel to Almaty", _order(f"DEMO-{run}-MAIL", "mail", "export",
                                          _line("Dried apricots", "081310", "6.50", 4, "USD", "CN", "2.0"),
                                          almaty, kashgar, mail_product="parcel")),
        ("express shipment to Berlin", _order(f"DEMO-{run}-EXP", "express", "export",
                                              _line("Silk scarf", "621410", "45.00", 2, "EUR", "CN", "0.3"),
                                              berlin, kashgar, carrier="SGX")),
        ("e-commerce import to Beijing (9610)", _order(
            f"DEMO-{run}-ECOM", "ecommerce", "import",
            _line("Cashmere sweater", "6110120000", "680.00", 1, "CNY", "MN", "0.4"),
            beijing, _party("Ulaanbaatar Cashmere", "+976 11 321234", "Peace Ave 17, Ulaanbaatar", "MN"),
            trade_mode="9610", payment=claim(1, "680.00"))),
        ("green channel: honey from Kazakhstan", _order(
            f"DEMO-{run}-GREEN", "ecommerce", "import",
            _line("Mountain honey", "0409000000", "95.00", 2, "CNY", "KZ", "1.0"),
            beijing, almaty_farm, trade_mode="9610", payment=claim(2, "190.00"))),
        ("e-commerce import carried by an external logistics company", _order(
            f"DEMO-{run}-EXTL", "ecommerce", "import",
            _line("Camel wool blanket", "6301200000", "420.00", 1, "CNY", "KZ", "1.8"),
            beijing, almaty_farm, trade_mode="9610", payment=claim(3, "420.00"),
            logistics_company=LOGISTICS_COMPANY[0])),
        ("express 'gift' (vague description: a broker decides)", _order(
            f"DEMO-{run}-HELD", "express", "export", _line("Gift", "950300", "30.00", 1, "USD", "CN", "0.5"),
            berlin, kashgar, carrier="SGX")),
    ]


def queue_orders(run: str) -> list[tuple[str, dict]]:
    """Parcels customs holds and the demo leaves for a person in the brokers' console (it decides none of them)."""
    kashgar = _party("Kashgar Dried Fruit Co.", "+86 998 2821234", "12 Silk Road, Kashgar, Xinjiang", "CN")
    berlin = _party("Jonas Weber", "+49 30 1234567", "Torstr. 1, Berlin", "DE")
    beijing = _party("Li Lei", "+86 138 0013 8000", "1 Chang'an Ave, Dongcheng, Beijing", "CN",
                     id_type="resident_id", id_number=RESIDENT_ID)
    almaty_farm = _party("Tulpar Honey LLP", "+7 727 3334455", "8 Raiymbek Ave, Almaty", "KZ")
    return [
        ("mail 'sample' of apricots from Almaty (green lane, vague description)", _order(
            f"DEMO-{run}-Q1", "mail", "import", _line("Sample", "0813100000", "3.00", 2, "USD", "KZ", "1.0"),
            beijing, almaty_farm, mail_product="parcel")),
        ("express 'parts' to Berlin (vague description)", _order(
            f"DEMO-{run}-Q2", "express", "export", _line("Parts", "847330", "120.00", 1, "USD", "CN", "0.8"),
            berlin, kashgar, carrier="SGX")),
        ("e-commerce import paid by someone else (the documents disagree)", _order(
            f"DEMO-{run}-Q3", "ecommerce", "import",
            _line("Cashmere scarf", "6214100000", "420.00", 1, "CNY", "MN", "0.2"),
            beijing, _party("Ulaanbaatar Cashmere", "+976 11 321234", "Peace Ave 17, Ulaanbaatar", "MN"),
            trade_mode="9610",
            payment={"payer_name": "Zhang Wei", "payer_id_type": "resident_id", "payer_id_number": RESIDENT_ID,
                     "provider": PAYMENT_PROVIDER[2], "transaction_id": f"SP{run}9", "amount": "420.00",
                     "currency": "CNY", "paid_at": datetime.now(UTC).isoformat()})),
    ]


def _keys_path() -> Path:
    return data_dir() / "demo-keys.json"


def _save_keys(keys: dict[str, str]) -> None:
    path = _keys_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keys, indent=2))
    path.chmod(0o600)


async def demo_keys() -> dict[str, str]:
    """Reuse the demo keys in var/demo-keys.json, or create them (the merchant DEMO, a broker and ops)."""
    from shared.keys import create_key

    path = _keys_path()
    if path.exists():
        return json.loads(path.read_text())
    _, merchant = await create_key(role="merchant", owner=MERCHANT, name="Demo merchant")
    _, broker = await create_key(role="broker", owner="demo-broker", name="Demo customs broker")
    _, ops = await create_key(role="ops", owner="ops", name="Demo operator")
    keys = {"merchant": merchant, "broker": broker, "ops": ops}
    _save_keys(keys)
    return keys


async def ensure_partners(client: httpx.AsyncClient, orders_url: str, keys: dict[str, str]) -> dict[str, str]:
    """Register the sandbox payment provider and logistics company as ops would, bind them to the demo merchant
    and make their keys (once: kept with the other demo keys)."""
    ops = {"Authorization": f"Bearer {keys['ops']}"}
    for code, kind, name in (PAYMENT_PROVIDER, LOGISTICS_COMPANY):
        response = await client.post(f"{orders_url}/v1/partners", json={"code": code, "kind": kind, "name": name},
                                     headers=ops)
        if response.status_code not in (201, 409):  # 409: registered by an earlier demo
            raise click.ClickException(f"demo: registering {code} failed: {response.status_code} {response.text}")
        response = await client.put(f"{orders_url}/v1/partners/{code}/merchants/{MERCHANT}", headers=ops)
        if response.status_code != 200:
            raise click.ClickException(f"demo: binding {code} failed: {response.status_code} {response.text}")
        if kind not in keys:
            response = await client.post(f"{orders_url}/v1/api-keys", headers=ops,
                                         json={"role": kind, "owner": code, "name": f"{name} (demo)"})
            if response.status_code != 201:
                raise click.ClickException(f"demo: {code}'s key refused: {response.status_code} {response.text}")
            keys[kind] = response.json()["key"]
            _save_keys(keys)
    return keys


async def send_documents(client: httpx.AsyncClient, orders_url: str, keys: dict[str, str], order: dict,
                         title: str) -> None:
    """What the other two parties of an e-commerce order send, each with its own key: the provider's payment and,
    when the order names the sandbox logistics company, its waybill."""
    parcel = order["parcel"]
    if parcel["channel"] != "ecommerce" or parcel.get("payment") is None:
        return
    paid = await client.post(f"{orders_url}/v1/orders/{order['id']}/payment", json=parcel["payment"],
                             headers={"Authorization": f"Bearer {keys['payment']}"})
    if paid.status_code not in (200, 201):
        raise click.ClickException(f"demo: payment of {title} refused: {paid.status_code} {paid.text}")
    click.echo(f"demo: {PAYMENT_PROVIDER[2]} sent the payment of {title}: {paid.json()['id']}")
    if parcel.get("logistics_company") == LOGISTICS_COMPANY[0]:
        waybill = {"logistics_no": f"SBL{parcel['merchant_order_no'].replace('-', '')}"[:32],
                   "consignee": parcel["consignee"], "freight": parcel.get("freight", "0"),
                   "gross_weight_kg": "1.950"}
        recorded = await client.post(f"{orders_url}/v1/orders/{order['id']}/waybill", json=waybill,
                                     headers={"Authorization": f"Bearer {keys['logistics']}"})
        if recorded.status_code not in (200, 201):
            raise click.ClickException(f"demo: waybill of {title} refused: {recorded.status_code} {recorded.text}")
        click.echo(f"demo: {LOGISTICS_COMPANY[2]} sent its waybill {waybill['logistics_no']} for {title}")


async def run_demo(*, orders_url: str, customs_url: str, postal_url: str, wait: bool) -> None:
    keys = await demo_keys()
    run = uuid.uuid4().hex[:6].upper()
    merchant = {"Authorization": f"Bearer {keys['merchant']}"}
    broker = {"Authorization": f"Bearer {keys['broker']}"}
    async with httpx.AsyncClient(timeout=10) as client:
        keys = await ensure_partners(client, orders_url, keys)
        click.echo(f"demo: merchant key {keys['merchant']}\ndemo: broker key   {keys['broker']}\n"
                   f"demo: payment provider key {keys['payment']}\n"
                   f"demo: logistics company key {keys['logistics']}\n"
                   f"demo: (also in {Path(data_dir()) / 'demo-keys.json'})\n"
                   f"demo: brokers' console {customs_url}/console/ — sign in with the broker key above")
        orders: dict[str, str] = {}
        for title, body in sample_orders(run):
            response = await client.post(f"{orders_url}/v1/orders", json=body,
                                         headers={**merchant, "Idempotency-Key": body["merchant_order_no"]})
            if response.status_code != 201:
                raise click.ClickException(f"demo: {title} refused: {response.status_code} {response.text}")
            order = response.json()
            orders[order["id"]] = title
            click.echo(f"demo: sent {title}: order {order['id']} ({order['status']})")
            await send_documents(client, orders_url, keys, order, title)
        for title, body in queue_orders(run):  # not followed: they wait for a person in the console
            response = await client.post(f"{orders_url}/v1/orders", json=body,
                                         headers={**merchant, "Idempotency-Key": body["merchant_order_no"]})
            if response.status_code != 201:
                raise click.ClickException(f"demo: {title} refused: {response.status_code} {response.text}")
            await send_documents(client, orders_url, keys, response.json(), title)
            click.echo(f"demo: left for you in the brokers' console: {title} ({body['merchant_order_no']})")
        if not wait:
            return
        await follow(client, orders, orders_url=orders_url, customs_url=customs_url, merchant=merchant, broker=broker)


async def follow(client: httpx.AsyncClient, orders: dict[str, str], *, orders_url: str, customs_url: str,
                 merchant: dict, broker: dict, timeout_s: float = 300) -> None:
    """Print each status change; do what a broker must (the customs authority decides); stop when all are final."""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(seen.get(o) not in FINAL for o in orders):
        for order_id, title in orders.items():
            order = (await client.get(f"{orders_url}/v1/orders/{order_id}", headers=merchant)).json()
            status = order.get("status")
            if status != seen.get(order_id):
                seen[order_id] = status
                extra = f" tracking {order['tracking_number']}" if order.get("tracking_number") else ""
                reason = f" — {order['status_reason']}" if order.get("status_reason") else ""
                click.echo(f"demo: {title}: {status}{extra}{reason}")
            if status == "on_hold":
                await act_as_broker(client, customs_url, broker, order_id)
        await asyncio.sleep(1.0)
    click.echo("demo: done — try `silkgate trace <order id>` to follow one parcel through the logs")


# What the demo broker does, by the declaration's status: never a release — only the customs authority releases.
_BROKER_STEPS = {
    "held": [("amend", None), ("file", {"reason_code": "findings_resolved", "note": "demo broker: described"})],
    "authority_rejected": [("amend", None), ("file", {"reason_code": "refile_after_rejection"})],
    "manual_review": [("answer", {"reason_code": "documents_provided", "explanation": "demo: invoice attached",
                                  "documents": [{"kind": "invoice", "reference": "DEMO-INVOICE"}]})],
    "inspection": [("inspection", None)],
}


async def act_as_broker(client: httpx.AsyncClient, customs_url: str, broker: dict, order_id: str) -> None:
    """The demo broker takes a declaration that needs a person: describes the goods and files, or answers the
    authority's review or inspection."""
    found = (await client.get(f"{customs_url}/v1/declarations", params={"order_id": order_id, "needs_broker": True},
                              headers=broker)).json()
    for declaration in found.get("data", []):
        url = f"{customs_url}/v1/declarations/{declaration['id']}"
        if (await client.post(f"{url}/claim", headers=broker)).status_code >= 300:
            return
        for action, body in _BROKER_STEPS.get(declaration["status"], []):
            if action == "amend":
                lines = (await client.get(url, headers=broker)).json()["lines"]
                body = {"lines": [{"line_no": line["line_no"], "name": f"Toy car ({line['name']})"[:128]}
                                  for line in lines], "reason_code": "description_corrected",
                        "note": "demo broker: the photo shows a toy car"}
            if action == "inspection":
                body = {"attended_by": "demo broker", "attended_at": datetime.now(UTC).isoformat(),
                        "outcome": "passed", "note": "contents match the declaration"}
            response = await client.post(f"{url}/{action.replace('_', '-')}", headers=broker, json=body)
            if response.status_code >= 300:
                click.echo(f"demo: broker could not {action} {declaration['id']}: {response.json().get('detail')}")
                return
        click.echo(f"demo: broker worked declaration {declaration['id']} ({declaration['status']}); "
                   "the customs authority decides")
