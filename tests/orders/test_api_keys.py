"""API keys: ops create, list and revoke them; a revoked key stops working at once; the CLI's use case."""

from __future__ import annotations

from services.orders import keys, service
from services.orders.models import Merchant
from tests.orders.conftest import bearer
from tests.orders.domain.factories import mail_parcel


async def test_ops_creates_a_merchant_key_that_works_at_once(orders):
    response = await orders.client.post("/v1/api-keys", json={"role": "merchant", "owner": "M-URUMQI",
                                                              "name": "Urumqi shop"}, headers=orders.ops)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["key"].startswith("sg_merchant_") and created["active"] is True
    assert (created["role"], created["owner"], created["prefix"]) == ("merchant", "M-URUMQI", created["key"][:12])

    order = await orders.client.post("/v1/orders", json=mail_parcel(),
                                     headers={**bearer(created["key"]), "Idempotency-Key": "k"})
    assert order.status_code == 201 and order.json()["merchant_code"] == "M-URUMQI"
    async with orders.runtime.db.reader() as session:
        merchant = await session.get(Merchant, "M-URUMQI")
    assert merchant.name == "Urumqi shop"


async def test_listing_never_shows_secrets(orders):
    listed = (await orders.client.get("/v1/api-keys", headers=orders.ops)).json()
    assert {k["role"] for k in listed} == {"merchant", "ops", "payment", "logistics"} and len(listed) == 7
    assert all(set(k) == {"id", "prefix", "role", "owner", "name", "created_at", "revoked_at", "active"}
               for k in listed)
    merchants = (await orders.client.get("/v1/api-keys", params={"role": "merchant"}, headers=orders.ops)).json()
    assert {k["owner"] for k in merchants} == {"M-KASHGAR", "M-ALMATY"}
    one = (await orders.client.get("/v1/api-keys", params={"owner": "ALIPAY"}, headers=orders.ops)).json()
    assert [k["role"] for k in one] == ["payment"]


async def test_a_revoked_key_stops_working_at_once(orders):
    assert (await orders.client.get("/v1/orders", headers=orders.merchant)).status_code == 200
    [key] = (await orders.client.get("/v1/api-keys", params={"owner": "M-KASHGAR"}, headers=orders.ops)).json()

    response = await orders.client.delete(f"/v1/api-keys/{key['id']}", headers=orders.ops)
    assert response.status_code == 200
    assert response.json()["active"] is False and response.json()["revoked_at"] is not None

    after = await orders.client.get("/v1/orders", headers=orders.merchant)
    assert (after.status_code, after.json()["code"]) == (401, "api_key_invalid")
    # Revoking again returns it unchanged; an unknown id is a 404.
    again = await orders.client.delete(f"/v1/api-keys/{key['id']}", headers=orders.ops)
    assert again.status_code == 200 and again.json() == response.json()
    unknown = await orders.client.delete("/v1/api-keys/0000000000000000", headers=orders.ops)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "api_key_not_found")
    inactive = (await orders.client.get("/v1/api-keys", params={"active": False}, headers=orders.ops)).json()
    assert [k["id"] for k in inactive] == [key["id"]]


async def test_only_ops_manages_keys_and_only_this_services_roles(orders):
    for headers in (orders.merchant, orders.payment):
        assert (await orders.client.get("/v1/api-keys", headers=headers)).status_code == 403
        response = await orders.client.post("/v1/api-keys", json={"role": "ops", "owner": "me", "name": "x"},
                                            headers=headers)
        assert response.status_code == 403
    response = await orders.client.post("/v1/api-keys", json={"role": "broker", "owner": "b", "name": "x"},
                                        headers=orders.ops)
    assert (response.status_code, response.json()["field"], response.json()["code"]) == (422, "role",
                                                                                          "value_not_allowed")
    response = await orders.client.post("/v1/api-keys", json={"role": "merchant", "owner": "bad owner!", "name": "x"},
                                        headers=orders.ops)
    assert (response.status_code, response.json()["field"]) == (422, "owner")


async def test_the_cli_use_case_creates_a_key_and_registers_the_merchant_once(orders):
    async with orders.runtime.db.transaction() as session:
        key_id, key = await service.create_api_key(session, role="merchant", owner="M-CLI", name="first name")
        await service.ensure_merchant(session, code="M-CLI", name="second name")
    assert key.startswith("sg_merchant_") and len(key_id) == 16
    async with orders.runtime.db.transaction() as session:
        assert (await keys.get_api_key(session, key_id))["owner"] == "M-CLI"
        assert (await session.get(Merchant, "M-CLI")).name == "first name"
    response = await orders.client.get("/v1/orders", headers=bearer(key))
    assert response.status_code == 200


async def test_a_partner_key_needs_a_registered_partner_of_its_kind(orders):
    async def create(role: str, owner: str):
        return await orders.client.post("/v1/api-keys", json={"role": role, "owner": owner, "name": "x"},
                                        headers=orders.ops)

    response = await create("payment", "NOBODY")
    assert (response.status_code, response.json()["field"], response.json()["code"]) == (422, "owner",
                                                                                          "partner_unknown")
    response = await create("payment", "YTO")  # a logistics company
    assert (response.status_code, response.json()["code"]) == (422, "partner_kind_mismatch")
    response = await create("logistics", "ALIPAY")  # a payment provider
    assert (response.status_code, response.json()["code"]) == (422, "partner_kind_mismatch")
    response = await create("logistics", "YTO")
    assert response.status_code == 201 and response.json()["key"].startswith("sg_logistics_")
