"""Logs carry ids, not people: parcels full of personal data go through the whole system (real processes, debug
logging), and no log line of any process carries a name, phone, address, e-mail, ID or passport number of them."""

from __future__ import annotations

import random
import re
import string
import uuid
from pathlib import Path

import pytest
import pytest_asyncio

from bench.orders import resident_id
from shared.stack import Stack
from tests.e2e.conftest import FAST
from tests.e2e.journey import Actors, line
from tests.support import POSTGRES_URL

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]


def token(length: int = 9) -> str:
    return "".join(random.choices(string.ascii_lowercase, k=length)).capitalize()


def digits(count: int) -> str:
    return "".join(random.choices(string.digits, k=count))


class Personas:
    """People with unique, recognisable data, and every spelling of it a log line could carry."""

    def __init__(self) -> None:
        self.secrets: list[str] = []

    def keep(self, *values: str) -> None:
        self.secrets += [v for v in values if v]

    def person(self, country: str, phone: str, **extra: str) -> dict:
        name, street, mailbox = f"{token()} {token()}", token(), token().lower()
        address = f"{random.randrange(1, 999)} {street} Road"
        email = f"{mailbox}@{token().lower()}.example"
        self.keep(name, *name.split(), street, address, email, mailbox, phone, re.sub(r"\D", "", phone),
                  *extra.values())
        return {"name": name, "phone": phone, "address": address, "country": country, "email": email, **extra}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory):
    debug = {f"SILKGATE_{s}_LOG_LEVEL": "DEBUG" for s in ("ORDERS", "CUSTOMS", "POSTAL", "CARRIER")}
    stack = Stack(tmp_path_factory.mktemp("personal"), postgres_url=POSTGRES_URL, extra_env={**FAST, **debug})
    await stack.start()
    yield stack
    await stack.stop()


async def test_no_log_line_of_any_process_carries_personal_data(stack):
    actors = Actors(stack)
    people = Personas()
    try:
        placed = []
        # Mail from a sender with a passport, to a consignee whose phone is spelled the Chinese way.
        sender = people.person("CN", f"0086-138-{digits(4)}-{digits(4)}", id_type="passport",
                               id_number=f"E{digits(8)}")
        consignee = people.person("KZ", f"+7 727 {digits(3)} {digits(4)}")
        placed.append(await actors.place(_order("mail", sender, consignee, ("Dried apricots", "081310", "6.50"))))
        # Express, held for a broker (vague goods), released with a note that quotes a phone in free text.
        express_to = people.person("DE", f"(030) {digits(3)}-{digits(4)}")
        held = await actors.place(_order("express", sender, express_to, ("Gift", "950300", "30.00")))
        placed.append(held)
        # E-commerce import to a buyer with a resident ID, paid by that buyer (payer name and ID on the payment).
        id_number = resident_id(random.randrange(1, 10**6))
        buyer = people.person("CN", f"138 {digits(4)} {digits(4)}", id_type="resident_id", id_number=id_number)
        ecommerce = _order("ecommerce", sender, buyer, ("Cashmere sweater", "6110120000", "380.00"))
        ecommerce["payment"] = {"payer_name": buyer["name"], "payer_id_type": "resident_id",
                                "payer_id_number": id_number, "provider": "Alipay",
                                "transaction_id": f"AP{uuid.uuid4().hex[:12]}", "amount": ecommerce["amount_paid"],
                                "currency": ecommerce["currency"], "paid_at": "2026-03-01T02:00:00Z"}
        placed.append(await actors.place(ecommerce))
        # A cancelled one, its reason naming the buyer's e-mail and phone.
        cancelled = await actors.place(_order("mail", sender, people.person("KZ", f"+7 701 {digits(7)}"),
                                              ("Tea", "090230", "4.00")))
        reason = f"buyer {buyer['email']} called from {buyer['phone']}"
        response = await actors.merchant.post(f"/v1/orders/{cancelled['id']}/cancel", json={"reason": reason})
        assert response.status_code == 200, response.text

        await actors.wait_status(held["id"], "on_hold")
        declaration = await actors.declaration_of(held["id"])
        # The broker names the goods and files, with notes that quote a phone and a passport in free text; the
        # sandbox authority then releases it.
        detail = (await actors.broker.get(f"/v1/declarations/{declaration['id']}")).json()
        amended = await actors.decide(declaration["id"], "amend", body={
            "lines": [{"line_no": line["line_no"], "name": "Wooden puzzle"} for line in detail["lines"]],
            "reason_code": "description_corrected", "note": f"confirmed with consignee at {express_to['phone']}"})
        assert amended.status_code == 200, amended.text
        filed = await actors.broker.post(f"/v1/declarations/{declaration['id']}/file", json={
            "reason_code": "findings_resolved", "note": f"sender's passport {sender['id_number']} seen"})
        assert filed.status_code == 200, filed.text
        for order in placed:
            await actors.wait_status(order["id"], "delivered", timeout=120)
    finally:
        await actors.close()

    lines = _log_lines(stack.log_dir)
    assert len(lines) > 200  # debug logging of every process: the test reads a great deal
    assert any(order["id"] in text for _, text in lines for order in placed)  # ids are there
    leaks = [(name, secret, text[:300]) for name, text in lines for secret in people.secrets if secret in text]
    assert not leaks, f"personal data in the logs: {leaks[:5]}"


def _order(channel: str, sender: dict, consignee: dict, goods: tuple[str, str, str]) -> dict:
    name, hs, price = goods
    currency, origin = {"mail": ("USD", "CN"), "express": ("EUR", "CN"), "ecommerce": ("CNY", "MN")}[channel]
    body = {"merchant_order_no": f"PD-{uuid.uuid4().hex[:10]}", "channel": channel, "sender": sender,
            "consignee": consignee, "lines": [line(name, hs, price, 1, currency, origin)], "currency": currency,
            "goods_value": price, "amount_paid": price}
    if channel == "mail":
        body.update(direction="export", mail_product="parcel")
    elif channel == "express":
        body.update(direction="export", carrier="SGX")
    else:
        body.update(direction="import", trade_mode="9610")
    return body


def _log_lines(log_dir: Path) -> list[tuple[str, str]]:
    """Every line every process wrote: the JSON logs and the raw output (tracebacks included)."""
    return [(path.name, text) for path in sorted(log_dir.iterdir()) if path.is_file()
            for text in path.read_text(errors="replace").splitlines()]
