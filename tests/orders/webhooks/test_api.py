"""Registering webhook endpoints: validation, the secret shown once, tenancy, enabling and deleting."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services.orders.webhooks.models import WebhookEndpoint
from tests.orders.webhooks.support import endpoint, register

URL = "http://127.0.0.1:9/hooks"  # never called here: nothing is ordered in these tests


async def test_an_endpoint_is_created_with_its_secret_shown_once(orders):
    created = await register(orders, URL, event_types=["parcel.delivered", "declaration.held"],
                             description="shop updates")
    assert created["secret"].startswith("whsec_")
    assert created["id"].startswith("we_")
    assert created["event_types"] == ["declaration.held", "parcel.delivered"]
    assert (created["enabled"], created["disabled_reason"], created["failing_since"]) == (True, None, None)
    assert created["description"] == "shop updates"

    shown = await endpoint(orders, created["id"])
    assert "secret" not in shown
    assert shown == {k: v for k, v in created.items() if k != "secret"}
    listed = (await orders.client.get("/v1/webhook-endpoints", headers=orders.merchant)).json()["data"]
    assert listed == [shown]


async def test_all_event_types_with_a_star(orders):
    created = await register(orders, URL, event_types=["order.accepted", "*"])
    assert created["event_types"] == ["*"]


@pytest.mark.parametrize(("url", "code"), [
    ("ftp://example.com/hooks", "url_scheme_not_allowed"),
    ("https://user:pw@example.com/hooks", "url_credentials_not_allowed"),
    ("http://10.0.0.7/hooks", "url_private_address"),
    ("http://169.254.169.254/latest/meta-data", "url_private_address"),
    ("http://[::ffff:10.0.0.7]/hooks", "url_private_address"),
    ("http://0.0.0.0:8080/hooks", "url_private_address"),
    ("https:///hooks", "url_host_required"),
])
async def test_bad_urls_are_422_naming_the_url(orders, url, code):
    response = await orders.client.post("/v1/webhook-endpoints", json={"url": url, "event_types": ["*"]},
                                        headers=orders.merchant)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert (problem["code"], problem["field"]) == (code, "url")
    assert response.headers["content-type"] == "application/problem+json"
    assert await _endpoint_count(orders) == 0


async def test_loopback_is_refused_unless_configuration_allows_it(start_webhook_orders):
    orders = await start_webhook_orders(webhook_allow_loopback=False)
    response = await orders.client.post("/v1/webhook-endpoints", json={"url": URL, "event_types": ["*"]},
                                        headers=orders.merchant)
    assert (response.status_code, response.json()["code"]) == (422, "url_private_address")
    assert "loopback" in response.json()["detail"]


async def test_private_networks_can_be_allowed(start_webhook_orders):
    orders = await start_webhook_orders(webhook_allow_private_networks=True)
    await register(orders, "http://10.0.0.7:8080/hooks")


async def test_unknown_event_types_are_named_by_index_with_the_url(orders):
    response = await orders.client.post(
        "/v1/webhook-endpoints", json={"url": "ftp://x", "event_types": ["order.accepted", "order.shipped"]},
        headers=orders.merchant)
    assert response.status_code == 422
    problem = response.json()
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [
        ("url", "url_scheme_not_allowed"), ("event_types[1]", "event_type_unknown")]


@pytest.mark.parametrize(("body", "field", "code"), [
    ({"url": URL, "event_types": []}, "event_types", "too_few_items"),
    ({"url": URL}, "event_types", "field_required"),
    ({"event_types": ["*"]}, "url", "field_required"),
    ({"url": URL, "event_types": ["*"], "secret": "mine"}, "secret", "field_unknown"),
])
async def test_malformed_bodies_are_422(orders, body, field, code):
    response = await orders.client.post("/v1/webhook-endpoints", json=body, headers=orders.merchant)
    assert response.status_code == 422
    assert (response.json()["field"], response.json()["code"]) == (field, code)


async def test_a_merchant_has_a_bounded_number_of_endpoints(start_webhook_orders):
    orders = await start_webhook_orders(webhook_max_endpoints_per_merchant=2)
    await register(orders, URL)
    await register(orders, URL)
    response = await orders.client.post("/v1/webhook-endpoints", json={"url": URL, "event_types": ["*"]},
                                        headers=orders.merchant)
    assert (response.status_code, response.json()["code"]) == (409, "webhook_endpoint_limit")
    await register(orders, URL, headers=orders.other_merchant)  # the bound is per merchant


async def test_other_merchants_endpoints_are_404_everywhere(orders):
    mine = await register(orders, URL)
    theirs = orders.other_merchant
    base = f"/v1/webhook-endpoints/{mine['id']}"
    calls = [
        ("GET", base, None),
        ("PATCH", base, {"enabled": False}),
        ("DELETE", base, None),
        ("GET", f"{base}/deliveries", None),
        ("GET", f"{base}/deliveries/whd_x", None),
        ("POST", f"{base}/deliveries/whd_x/replay", None),
        ("POST", f"{base}/replay", {"since": "2026-01-01T00:00:00Z"}),
    ]
    for method, path, body in calls:
        response = await orders.client.request(method, path, json=body, headers=theirs)
        assert (response.status_code, response.json()["code"]) == (404, "webhook_endpoint_not_found"), path
    assert (await orders.client.get("/v1/webhook-endpoints", headers=theirs)).json()["data"] == []
    assert (await endpoint(orders, mine["id"]))["enabled"] is True


async def test_only_merchant_keys_manage_webhooks(orders):
    response = await orders.client.get("/v1/webhook-endpoints", headers=orders.ops)
    assert response.status_code == 403
    assert (await orders.client.get("/v1/webhook-endpoints")).status_code == 401


async def test_patch_changes_what_is_sent_and_disables_with_a_reason(orders):
    created = await register(orders, URL)
    path = f"/v1/webhook-endpoints/{created['id']}"
    response = await orders.client.patch(path, json={"event_types": ["parcel.delivered"], "enabled": False},
                                         headers=orders.merchant)
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["event_types"], changed["enabled"]) == (["parcel.delivered"], False)
    assert changed["disabled_reason"] == "disabled by the merchant" and changed["disabled_at"]

    response = await orders.client.patch(path, json={"enabled": True}, headers=orders.merchant)
    assert (response.json()["enabled"], response.json()["disabled_reason"]) == (True, None)

    response = await orders.client.patch(path, json={"url": "http://192.168.0.10/x"}, headers=orders.merchant)
    assert (response.status_code, response.json()["field"]) == (422, "url")
    assert (await endpoint(orders, created["id"]))["url"] == URL


async def test_a_deleted_endpoint_is_gone(orders):
    created = await register(orders, URL)
    path = f"/v1/webhook-endpoints/{created['id']}"
    assert (await orders.client.delete(path, headers=orders.merchant)).status_code == 204
    assert (await orders.client.get(path, headers=orders.merchant)).status_code == 404
    assert (await orders.client.delete(path, headers=orders.merchant)).status_code == 404
    assert await _endpoint_count(orders) == 0


async def test_replay_since_needs_a_time_zone(orders):
    created = await register(orders, URL)
    response = await orders.client.post(f"/v1/webhook-endpoints/{created['id']}/replay",
                                        json={"since": "2026-03-01T00:00:00"}, headers=orders.merchant)
    assert (response.status_code, response.json()["field"]) == (422, "since")
    response = await orders.client.post(f"/v1/webhook-endpoints/{created['id']}/replay",
                                        json={"since": "2026-03-01T00:00:00Z", "status": "succeeded"},
                                        headers=orders.merchant)
    assert (response.status_code, response.json()["field"]) == (422, "status")
    # Issue 16: a time with no UTC equivalent is invalid input, not a 500.
    response = await orders.client.post(f"/v1/webhook-endpoints/{created['id']}/replay",
                                        json={"since": "0001-01-01T00:00:00+01:00"}, headers=orders.merchant)
    assert (response.status_code, response.json()["code"]) == (422, "date_out_of_range")


async def test_the_delivery_log_cursor_must_belong_to_the_endpoint(orders):
    created = await register(orders, URL)
    response = await orders.client.get(f"/v1/webhook-endpoints/{created['id']}/deliveries",
                                       params={"starting_after": "whd_nope"}, headers=orders.merchant)
    assert (response.status_code, response.json()["code"]) == (422, "cursor_invalid")


async def _endpoint_count(orders) -> int:
    async with orders.runtime.db.reader() as session:
        return (await session.execute(select(func.count()).select_from(WebhookEndpoint))).scalar_one()
