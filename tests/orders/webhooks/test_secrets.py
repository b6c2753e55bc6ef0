"""Webhook signing secrets: encrypted at rest under a configured key, rotatable with an overlap window during which
deliveries carry two signatures, and the key itself rotatable (re-encryption)."""

from __future__ import annotations

import re

import pytest
from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr
from sqlalchemy import select

from services.orders.webhooks import service, signing
from services.orders.webhooks.encryption import SecretBox
from services.orders.webhooks.models import WebhookEndpoint
from tests.orders.domain.factories import mail_parcel
from tests.orders.webhooks.support import endpoint, register
from tests.support import eventually

README = __import__("pathlib").Path(__file__).resolve().parents[3] / "README.md"


async def stored_secret(orders, endpoint_id: str) -> tuple[str, str | None]:
    async with orders.runtime.db.reader() as session:
        row = (await session.execute(select(WebhookEndpoint.secret, WebhookEndpoint.previous_secret)
                                     .where(WebhookEndpoint.id == endpoint_id))).one()
    return row.secret, row.previous_secret


async def test_the_secret_is_stored_encrypted_under_the_configured_key(start_webhook_orders):
    key = Fernet.generate_key().decode()
    orders = await start_webhook_orders(webhook_secret_keys=[key])
    created = await register(orders, "http://127.0.0.1:9/hooks")
    sealed, _ = await stored_secret(orders, created["id"])
    assert created["secret"] not in sealed and not sealed.startswith("whsec_")
    assert SecretBox([key]).open(sealed) == created["secret"]
    with pytest.raises(InvalidToken):  # another key cannot open it
        SecretBox([Fernet.generate_key().decode()]).open(sealed)


async def test_a_rotation_answers_a_new_secret_and_deliveries_carry_both_signatures_meanwhile(start_webhook_orders,
                                                                                             receivers):
    orders = await start_webhook_orders()
    receiver = await receivers()
    created = await register(orders, receiver.url)
    rotated = await orders.client.post(f"/v1/webhook-endpoints/{created['id']}/rotate-secret",
                                       json={"expires_in_s": 3600}, headers=orders.merchant)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["secret"].startswith("whsec_") and new["secret"] != created["secret"]
    assert new["previous_secret_expires_at"] is not None
    assert "secret" not in await endpoint(orders, created["id"])

    await orders.create_order(mail_parcel())
    [request] = await eventually(lambda: receiver.requests or None)
    header = request.headers["silkgate-signature"]
    assert len(re.findall(r"v1=", header)) == 2
    assert signing.verify(new["secret"], header, request.body)
    assert signing.verify(created["secret"], header, request.body)
    assert readme_verify()(created["secret"], header, request.body)  # the README's snippet accepts either
    assert readme_verify()(new["secret"], header, request.body)


async def test_a_rotation_without_overlap_stops_the_old_secret_at_once(start_webhook_orders, receivers):
    orders = await start_webhook_orders()
    receiver = await receivers()
    created = await register(orders, receiver.url)
    rotated = (await orders.client.post(f"/v1/webhook-endpoints/{created['id']}/rotate-secret",
                                        json={"expires_in_s": 0}, headers=orders.merchant)).json()
    assert rotated["previous_secret_expires_at"] is None
    await orders.create_order(mail_parcel())
    [request] = await eventually(lambda: receiver.requests or None)
    assert signing.verify(rotated["secret"], request.headers["silkgate-signature"], request.body)
    assert not signing.verify(created["secret"], request.headers["silkgate-signature"], request.body)


async def test_another_merchant_cannot_rotate_an_endpoint(orders):
    created = await register(orders, "http://127.0.0.1:9/hooks")
    response = await orders.client.post(f"/v1/webhook-endpoints/{created['id']}/rotate-secret", json={},
                                        headers=orders.other_merchant)
    assert (response.status_code, response.json()["code"]) == (404, "webhook_endpoint_not_found")
    too_long = await orders.client.post(f"/v1/webhook-endpoints/{created['id']}/rotate-secret",
                                        json={"expires_in_s": 8 * 24 * 3600}, headers=orders.merchant)
    assert (too_long.status_code, too_long.json()["field"]) == (422, "expires_in_s")


async def test_the_encryption_key_rotates_by_adding_a_key_and_reencrypting(start_webhook_orders):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    orders = await start_webhook_orders(webhook_secret_keys=[old])
    created = await register(orders, "http://127.0.0.1:9/hooks")
    await orders.client.post(f"/v1/webhook-endpoints/{created['id']}/rotate-secret", json={"expires_in_s": 60},
                             headers=orders.merchant)
    settings = orders.runtime.settings.model_copy(update={"webhook_secret_keys": [SecretStr(new), SecretStr(old)]})
    async with orders.runtime.db.transaction() as session:
        assert await service.reencrypt_secrets(session, settings) == 1
    sealed, previous = await stored_secret(orders, created["id"])
    assert SecretBox([new]).open(previous) == created["secret"]  # the old key is no longer needed
    SecretBox([new]).open(sealed)


def readme_verify():
    """The `verify` function exactly as the README shows it to merchants."""
    text = README.read_text()
    code = text.split("**Verify the signature**", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify"]
