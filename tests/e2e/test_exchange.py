"""The exchange with the customs authority through the real processes (shared/stack.py): customs files standard
messages with the sandbox authority over HTTP, the authority's signed receipts come back to POST /v1/receipts, and
they — never a broker — release the parcel. Every path a declarant meets: released at once (import CEB621, export
CEB603), a manual review (300) a broker answers, an inspection (500) a broker records, a rejection (100) amended and
filed again (appType 2), and the authority unreachable for a while (filings wait, none lost)."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier
from signxml.algorithms import DigestAlgorithm, SignatureMethod

from shared.stack import Stack
from tests.e2e.conftest import FAST
from tests.e2e.journey import Actors, export_order, line, order, payment_body
from tests.e2e.test_journeys import timeline_types
from tests.support import POSTGRES_URL

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

ROOT = Path(__file__).resolve().parents[2]
CEB_NS = "http://www.chinaport.gov.cn/ceb"

# The sandbox authority's rules for this module: order numbers and HS codes pick the path (first match wins).
RULES = [
    {"order_no_prefix": "REVIEW-", "answer": 300, "info": "explain the value"},
    {"order_no_prefix": "INSPECT-", "answer": 500, "failed_answer": 502},
    {"hs_prefix": "8471", "answer": 100, "info": "HS code does not describe the goods"},
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("exchange"), postgres_url=POSTGRES_URL,
                  extra_env={**FAST, "SILKGATE_AUTHORITY_RULES": json.dumps(RULES)})
    await stack.start()
    yield stack
    await stack.stop()


async def messages_of(actors: Actors, declaration_id: str) -> dict:
    response = await actors.broker.get(f"/v1/declarations/{declaration_id}/messages")
    assert response.status_code == 200, response.text
    return response.json()


async def wait_declaration(actors: Actors, order_id: str, *statuses: str, timeout: float = 60) -> dict:
    deadline, current = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        current = await actors.declaration_of(order_id)
        if current["status"] in statuses:
            return current
        await asyncio.sleep(0.2)
    raise AssertionError(f"declaration of {order_id} stayed {current.get('status')}, wanted {statuses}")


def receipt_codes(exchange: dict, guid: str) -> list[int]:
    return [r["return_status"] for r in exchange["receipts"] if r["message_guid"] == guid]


def only(exchange: dict, message_type: str, app_type: int = 1) -> dict:
    found = [m for m in exchange["messages"] if m["message_type"] == message_type and m["app_type"] == app_type]
    assert len(found) == 1, exchange["messages"]
    return found[0]


def check_signed_xml(body: bytes, certificate: Path) -> etree._Element:
    """What an auditor does with a filed message: the signature verifies with customs' certificate (signxml, the
    configured certificate, not the one in the document) and the document validates against the project's XSD."""
    expect = SignatureConfiguration(require_x509=True, location="./", expect_references=1,
                                    signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
                                    digest_algorithms=frozenset({DigestAlgorithm.SHA256}))
    signed = XMLVerifier().verify(body, x509_cert=certificate.read_text(), expect_config=expect).signed_xml
    schema = etree.XMLSchema(etree.parse(str(ROOT / "shared/ceb/xsd/ceb.xsd")))
    assert schema.validate(etree.fromstring(body)), schema.error_log
    return signed


async def filed_exactly(actors: Actors, stack: Stack, guid: str) -> bytes:
    """The message as customs keeps it — and the same bytes at the authority, in the transport's base64."""
    response = await actors.broker.get(f"/v1/messages/{guid}")
    assert response.status_code == 200, response.text
    async with httpx.AsyncClient(base_url=stack.url("authority"), timeout=30) as authority:
        received = await authority.get(f"/v1/messages/{guid}")
    assert received.status_code == 200, received.text
    envelope = json.loads(received.json()["request_body"])["Message"]
    assert envelope["MessageHead"]["MessageId"] == guid
    assert base64.b64decode(envelope["MessageBody"]["data"]) == response.content
    return response.content


def text(root: etree._Element, path: str) -> list[str]:
    return [element.text for element in root.iterfind(path, {"c": CEB_NS})]


async def test_an_import_is_filed_as_ceb311_and_ceb621_and_released_by_the_authoritys_800(actors, stack):
    body = order("ecommerce")
    placed = await actors.place(body)  # the merchant's order, then the payment company's payment
    handed = await actors.wait_status(placed["id"], "handed_off", "in_transit", "delivered", timeout=90)
    assert "declaration.released" in timeline_types(handed)
    declaration = await actors.declaration_of(placed["id"])
    exchange = await messages_of(actors, declaration["id"])
    inventory, order_message = only(exchange, "CEB621"), only(exchange, "CEB311")
    assert inventory["state"] == order_message["state"] == "sent"
    codes = receipt_codes(exchange, inventory["guid"])
    assert codes[-2:] == [120, 800], codes  # declaring, accepted, released: in order, each once
    assert 120 in receipt_codes(exchange, order_message["guid"])

    certificate = stack.root / "certs" / "customs.crt"
    signed = check_signed_xml(await filed_exactly(actors, stack, inventory["guid"]), certificate)
    assert etree.QName(signed).localname == "CEB621Message"
    assert text(signed, ".//c:InventoryHead/c:copNo") == [declaration["id"]]
    assert text(signed, ".//c:InventoryHead/c:orderNo") == [body["merchant_order_no"]]
    assert text(signed, ".//c:InventoryHead/c:logisticsNo") == [handed["tracking_number"]]
    assert text(signed, ".//c:InventoryList/c:gcode") == ["6110120000"]
    signed_order = check_signed_xml(await filed_exactly(actors, stack, order_message["guid"]), certificate)
    assert text(signed_order, ".//c:OrderHead/c:orderNo") == [body["merchant_order_no"]]


async def test_an_export_is_filed_as_ceb303_and_ceb603_and_released(actors, stack):
    body = export_order(random.randrange(10_000, 10_000_000))
    placed = await actors.place(body)
    await actors.wait_status(placed["id"], "handed_off", "in_transit", "delivered", timeout=90)
    declaration = await actors.declaration_of(placed["id"])
    exchange = await messages_of(actors, declaration["id"])
    inventory = only(exchange, "CEB603")
    only(exchange, "CEB303")
    assert not [m for m in exchange["messages"] if m["message_type"] in ("CEB311", "CEB621")]
    assert receipt_codes(exchange, inventory["guid"])[-2:] == [120, 800]
    signed = check_signed_xml(await filed_exactly(actors, stack, inventory["guid"]),
                              stack.root / "certs" / "customs.crt")
    assert etree.QName(signed).localname == "CEB603Message"
    assert text(signed, ".//c:InventoryList/c:gcode") == ["0813100000"]


async def test_a_manual_review_is_answered_by_a_broker_and_the_authority_releases(actors):
    body = order("express")
    body["merchant_order_no"] = f"REVIEW-{body['merchant_order_no']}"
    placed = await actors.place(body)
    declaration = await wait_declaration(actors, placed["id"], "manual_review")
    assert (await actors.wait_status(placed["id"], "on_hold"))["status_reason"]
    # A broker cannot release it; a broker answers the authority.
    release = await actors.broker.post(f"/v1/declarations/{declaration['id']}/release",
                                       json={"reason_code": "contents_verified"})
    assert (release.status_code, release.json()["code"]) == (410, "broker_decision_removed")
    answer = await actors.decide(declaration["id"], "answer", body={
        "reason_code": "documents_provided", "explanation": "Invoice attached: the scarf is sold at 45 EUR.",
        "documents": [{"kind": "invoice", "reference": "INV-2026-0042"}]})
    assert answer.status_code == 200, answer.text
    again = await actors.decide(declaration["id"], "answer", body={
        "reason_code": "explanation", "explanation": "a second click"})
    assert again.status_code == 409 and again.json()["code"] in ("already_answered", "transition_not_allowed")
    await actors.wait_status(placed["id"], "released", "handed_off", "in_transit", "delivered", timeout=60)
    exchange = await messages_of(actors, declaration["id"])
    manifest, review_answer = only(exchange, "EXPMANIFEST"), only(exchange, "REVIEWANSWER")
    assert receipt_codes(exchange, manifest["guid"])[-3:] == [300, 399, 800]
    assert review_answer["state"] == "sent"


async def test_an_inspection_is_recorded_by_a_broker_passed_releases_failed_detains(actors):
    placed = {}
    for outcome in ("passed", "failed"):
        body = order("mail")
        body["merchant_order_no"] = f"INSPECT-{body['merchant_order_no']}"
        placed[outcome] = await actors.place(body)
    for outcome, parcel in placed.items():
        declaration = await wait_declaration(actors, parcel["id"], "inspection")
        response = await actors.decide(declaration["id"], "inspection", body={
            "attended_by": "Li Wei", "attended_at": datetime.now(UTC).isoformat(), "outcome": outcome,
            "note": "goods presented at the Kashgar office"})
        assert response.status_code == 200, response.text
    await actors.wait_status(placed["passed"]["id"], "released", "handed_off", "in_transit", "delivered", timeout=60)
    detained = await wait_declaration(actors, placed["failed"]["id"], "detained")
    assert detained["needs_broker"]
    exchange = await messages_of(actors, detained["id"])
    assert receipt_codes(exchange, only(exchange, "CUSITM")["guid"])[-2:] == [500, 502]
    assert only(exchange, "INSPECTIONRECORD")["state"] == "sent"
    assert (await actors.get(placed["failed"]["id"]))["status"] == "on_hold"  # goods stay with customs


async def test_a_rejection_is_amended_and_filed_again_as_a_change(actors, stack):
    body = order("ecommerce", name="Tablet computer", hs="8471300000")
    body["lines"] = [line("Tablet computer", "8471300000", "2800.00", 1, "CNY", "MN")]  # a tablet's price
    body.update(goods_value="2800.00", amount_paid="2800.00")
    body["payment"] = payment_body(body)
    placed = await actors.place(body)
    declaration = await wait_declaration(actors, placed["id"], "authority_rejected")
    detail = (await actors.broker.get(f"/v1/declarations/{declaration['id']}")).json()
    assert detail["needs_broker"]
    amend = await actors.decide(declaration["id"], "amend", body={
        "lines": [{"line_no": 1, "hs_code": "8473302000", "name": "Tablet computer case"}],
        "reason_code": "hs_code_corrected", "note": "it is a case, not the tablet"})
    assert amend.status_code == 200, amend.text
    filed = await actors.broker.post(f"/v1/declarations/{declaration['id']}/file",
                                     json={"reason_code": "refile_after_rejection"})
    assert filed.status_code == 200, filed.text
    await actors.wait_status(placed["id"], "released", "handed_off", "in_transit", "delivered", timeout=60)
    exchange = await messages_of(actors, declaration["id"])
    first, change = only(exchange, "CEB621", 1), only(exchange, "CEB621", 2)
    assert receipt_codes(exchange, first["guid"])[-1] == 100
    assert receipt_codes(exchange, change["guid"])[-2:] == [120, 800]
    signed = check_signed_xml(await filed_exactly(actors, stack, change["guid"]), stack.root / "certs" / "customs.crt")
    assert text(signed, ".//c:InventoryHead/c:appType") == ["2"]
    assert text(signed, ".//c:InventoryList/c:gcode") == ["8473302000"]


async def test_filings_wait_while_the_authority_is_unreachable_and_go_out_once_when_it_is_back(actors, stack):
    authority = stack.processes["authority"]
    authority.kill()
    authority.wait(10)
    try:
        placed = await actors.place(order("express"))
        declaration = await wait_declaration(actors, placed["id"], "filed")
        deadline = time.monotonic() + 30
        while True:  # the gateway tries, fails, and keeps the message queued with the reason
            manifest = only(await messages_of(actors, declaration["id"]), "EXPMANIFEST")
            if manifest["attempts"] >= 1:
                break
            assert time.monotonic() < deadline, manifest
            await asyncio.sleep(0.3)
        assert manifest["state"] == "queued" and manifest["last_error"]
        assert (await actors.get(placed["id"]))["status"] == "awaiting_clearance"
    finally:
        stack.spawn("authority", ["authority"])
        await stack.wait_ready(["authority"])
    await actors.wait_status(placed["id"], "released", "handed_off", "in_transit", "delivered", timeout=120)
    exchange = await messages_of(actors, declaration["id"])
    manifest = only(exchange, "EXPMANIFEST")
    assert manifest["state"] == "sent" and receipt_codes(exchange, manifest["guid"])[-1] == 800
    async with httpx.AsyncClient(base_url=stack.url("authority"), timeout=30) as client:
        received = (await client.get("/v1/messages", params={"cop_no": declaration["id"]})).json()
    assert [m["message_id"] for m in received] == [manifest["guid"]]  # sent again until taken, received once
