"""One POST, seen from the wire (httpx's mock transport): pinned to the checked address, signed, bounded; and the
purge of old finished deliveries."""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import timedelta

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import update

from services.orders.webhooks import signing
from services.orders.webhooks.delivery import USER_AGENT, WebhookSender, post
from services.orders.webhooks.encryption import SecretBox
from services.orders.webhooks.models import WebhookDelivery
from services.orders.webhooks.repository import ClaimedDelivery
from services.orders.webhooks.urls import AddressPolicy
from shared.db import utcnow
from tests.orders.domain.factories import mail_parcel
from tests.orders.webhooks.support import all_succeeded, deliveries, deliveries_when, register

SECRET = "whsec_test_secret"
PAYLOAD = '{"id":"evt_1","type":"order.accepted"}'


BOX = SecretBox([Fernet.generate_key().decode()])


def claimed(url: str, *, previous: str | None = None, expires_in_s: float = 60) -> ClaimedDelivery:
    return ClaimedDelivery(id="whd_1", endpoint_id="we_1", event_id="evt_1", event_type="order.accepted",
                           order_id="ord_1", attempt_count=0, queued_at=utcnow(), lease_token="t", url=url,
                           secret=BOX.seal(SECRET), previous_secret=BOX.seal(previous) if previous else None,
                           previous_secret_expires_at=utcnow() + timedelta(seconds=expires_in_s) if previous else None,
                           payload=PAYLOAD)


LOOPBACK_OK = AddressPolicy(allow_loopback=True, allowed_ports=())


async def send(url: str, handler, policy: AddressPolicy = LOOPBACK_OK, timeout_s: float = 2.0,
               delivery: ClaimedDelivery | None = None):
    seen: list[httpx.Request] = []

    async def transport(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return await handler(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(transport)) as client:
        outcome = await post(client, delivery or claimed(url), timeout_s=timeout_s, policy=policy, box=BOX)
    return outcome, seen


async def ok(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="thanks")


async def test_the_request_goes_to_the_checked_address_with_the_hosts_name_and_tls_name():
    outcome, [request] = await send("https://localhost:8443/hooks?shop=7", ok)
    assert outcome.succeeded and outcome.response_body == "thanks"
    assert ipaddress.ip_address(request.url.host).is_loopback  # the resolved address, not the name
    assert (request.url.port, request.url.path, request.url.query) == (8443, "/hooks", b"shop=7")
    assert request.headers["host"] == "localhost:8443"
    assert request.extensions["sni_hostname"] == "localhost"  # the certificate is checked against the name


async def test_the_request_is_signed_and_carries_the_event():
    _, [request] = await send("http://127.0.0.1:9/hooks", ok)
    assert request.method == "POST" and request.content == PAYLOAD.encode()
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == USER_AGENT
    assert request.headers["silkgate-event-id"] == "evt_1"
    assert signing.verify(SECRET, request.headers["silkgate-signature"], request.content)


async def test_an_address_refused_at_send_time_is_never_called():
    # Allowed when registered, refused now (configuration changed, or the name resolves elsewhere: DNS rebinding).
    outcome, seen = await send("http://localhost:9/hooks", ok, policy=AddressPolicy(allowed_ports=()))
    assert seen == []
    assert outcome.status_code is None and outcome.error.startswith("url_private_address")


async def test_the_whole_post_is_bounded_by_the_timeout():
    async def slow(_: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    outcome, _ = await send("http://127.0.0.1:9/hooks", slow, timeout_s=0.2)
    assert outcome.error.startswith("timeout") and outcome.duration_ms < 2000


async def test_a_redirect_is_a_failure_and_not_followed():
    async def redirect(_: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/"})

    outcome, seen = await send("http://127.0.0.1:9/hooks", redirect)
    assert (outcome.status_code, outcome.succeeded, len(seen)) == (302, False, 1)


async def test_old_finished_deliveries_are_purged(orders, receivers):
    receiver = await receivers()
    created = await register(orders, receiver.url)
    await orders.create_order(mail_parcel(merchant_order_no="OLD"))
    await orders.create_order(mail_parcel(merchant_order_no="NEW"))
    log = await deliveries_when(orders, created["id"], all_succeeded(2))
    async with orders.runtime.db.transaction() as session:
        await session.execute(update(WebhookDelivery).where(WebhookDelivery.id == log[0]["id"])
                              .values(created_at=utcnow() - timedelta(days=31)))
    await WebhookSender(orders.runtime, orders.runtime.settings).housekeeping()
    assert [d["id"] for d in await deliveries(orders, created["id"])] == [log[1]["id"]]


async def test_during_a_rotations_overlap_a_delivery_carries_both_signatures_and_after_it_one():
    url = "http://127.0.0.1:9/hooks"
    _, [request] = await send(url, ok, delivery=claimed(url, previous="whsec_old"))
    header = request.headers["silkgate-signature"]
    assert header.count("v1=") == 2
    assert signing.verify(SECRET, header, request.content) and signing.verify("whsec_old", header, request.content)
    _, [later] = await send(url, ok, delivery=claimed(url, previous="whsec_old", expires_in_s=-1))
    assert later.headers["silkgate-signature"].count("v1=") == 1
    assert not signing.verify("whsec_old", later.headers["silkgate-signature"], later.content)
