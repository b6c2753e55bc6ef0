"""Issue 16, findings 3, 4, 7, 8 and 9: what the OpenAPI documents say, checked on the documents themselves
(the schemathesis run in test_schemathesis.py checks that the running services do what they say)."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest

from services.postal.domain import s10

SERVICES = ("orders", "customs", "postal", "carrier")


@cache
def document(service: str) -> dict[str, Any]:
    module = __import__(f"services.{service}.app", fromlist=["create_app"])
    return module.create_app().openapi()


def operations(doc: dict[str, Any]):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def refs(node: Any):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


@pytest.mark.parametrize("service", SERVICES)
def test_every_reference_resolves(service):
    doc = document(service)
    schemas = doc["components"]["schemas"]
    dangling = {ref for ref in refs(doc) if ref.rsplit("/", 1)[1] not in schemas}
    assert not dangling


def test_the_order_batch_items_are_the_parcel_schema():
    batch = document("orders")["components"]["schemas"]["BatchRequest"]
    assert batch["properties"]["orders"]["items"] == {"$ref": "#/components/schemas/Parcel-Input"}


@pytest.mark.parametrize("service", SERVICES)
def test_every_error_is_documented_as_problem_json(service):
    doc = document(service)
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, method, operation in operations(doc):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"], (method, path, status)
                assert response["content"]["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"}


@pytest.mark.parametrize("service", ("orders", "customs", "postal"))
def test_one_bearer_scheme_on_every_v1_operation_and_none_on_health(service):
    doc = document(service)
    assert doc["components"]["securitySchemes"] == {"apiKey": {**doc["components"]["securitySchemes"]["apiKey"],
                                                               "type": "http", "scheme": "bearer"}}
    for path, method, operation in operations(doc):
        if path.startswith("/v1/"):
            assert operation["security"] == [{"apiKey": []}], (method, path)
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
        else:
            assert operation["security"] == [], (method, path)


@pytest.mark.parametrize("service", SERVICES)
def test_metrics_is_prometheus_text(service):
    metrics = document(service)["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]


@pytest.mark.parametrize("service", ("orders", "customs", "postal"))
def test_unreadable_and_oversize_bodies_are_documented_on_every_body(service):
    for path, method, operation in operations(document(service)):
        if "requestBody" in operation:
            assert {"413", "422"} <= operation["responses"].keys(), (method, path)
            assert "json_too_deep" in operation["responses"]["422"]["description"]


def test_money_has_the_pattern_and_length_the_services_enforce():
    from shared.contract.parcel import Payment

    amount = document("orders")["components"]["schemas"]["Payment-Input"]["properties"]["amount"]
    [number] = [b for b in amount["anyOf"] if b["type"] == "number"]
    [text] = [b for b in amount["anyOf"] if b["type"] == "string"]
    assert number["multipleOf"] == 0.01 and number["maximum"] == 999999999999.99
    assert text["maxLength"] == 19
    for good in ("0", "208.51", "999999999999.99", "208.510"):
        assert re.fullmatch(text["pattern"], good)
    for bad in ("1e3", "01", " 5", "1.001", "1000000000000"):
        assert not re.fullmatch(text["pattern"], bad)
        with pytest.raises(ValueError):
            Payment.model_validate({**PAYMENT, "amount": bad})
    assert "x-silkgate-decimal" not in str(document("orders"))


PAYMENT = {"payer_name": "Wang Fang", "payer_id_type": "resident_id", "payer_id_number": "11010519491231002X",
           "provider": "Alipay", "transaction_id": "2026030122001400001234567890", "currency": "CNY",
           "paid_at": "2026-03-01T10:15:00+08:00"}


def test_the_tracking_examples_have_valid_s10_numbers():
    doc = document("postal")
    body = doc["paths"]["/v1/tracking-events"]["post"]["requestBody"]["content"]["application/json"]
    numbers = [body["examples"]["one"]["value"]["tracking_number"]]
    numbers += [event["tracking_number"] for event in body["examples"]["batch"]["value"]["events"]]
    mail = [number for number in numbers if re.fullmatch(r"[A-Z]{2}\d{9}[A-Z]{2}", number)]
    assert mail and all(s10.is_valid(number) for number in mail)


def test_the_published_carriers_are_the_ones_postal_can_number():
    """Issue 16 finding 11: an order naming a carrier postal has no waybill scheme for was accepted, then stalled."""
    from services.postal.domain.carriers import DEFAULT_CARRIERS
    from shared.contract.carriers import CARRIERS

    assert set(CARRIERS) == set(DEFAULT_CARRIERS)
    carrier = document("orders")["components"]["schemas"]["Parcel-Input"]["properties"]["carrier"]
    assert all(f"`{code}`" in str(carrier) for code in CARRIERS)


def test_a_retried_payment_or_waybill_documents_its_200():
    """Issue 16 finding 6: a retry answers 200 with the first receipt; the document says so."""
    paths = document("orders")["paths"]
    for path in ("/v1/orders/{order_id}/payment", "/v1/orders/{order_id}/waybill"):
        assert {"200", "201"} <= paths[path]["post"]["responses"].keys()


def test_webhook_event_types_are_an_enumeration():
    """Issue 16 finding 9: the event types lived only in the description."""
    from services.orders.webhooks.rules import EVENT_TYPES

    schemas = document("orders")["components"]["schemas"]
    items = schemas["EndpointCreate"]["properties"]["event_types"]["items"]
    assert set(items["enum"]) == {"*", *EVENT_TYPES}


def test_the_sandbox_carrier_documents_a_key_only_when_it_asks_for_one():
    from services.carrier.app import create_app
    from services.carrier.settings import CarrierSettings

    open_doc = document("carrier")
    assert "securitySchemes" not in open_doc["components"]
    assert open_doc["paths"]["/v1/manifests"]["post"]["security"] == []
    keyed = create_app(CarrierSettings(manifest_api_key="sg_carrier_x")).openapi()
    assert keyed["paths"]["/v1/manifests"]["post"]["security"] == [{"apiKey": []}]
