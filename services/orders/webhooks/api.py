"""HTTP endpoints of merchant webhooks: register endpoints, read the delivery log, replay."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from services.orders import examples
from services.orders.examples import responses
from services.orders.webhooks import rules, service
from services.orders.webhooks.schemas import (
    DELIVERY_EXAMPLE,
    DELIVERY_PAGE_EXAMPLE,
    ENDPOINT_EXAMPLE,
    EVENT_EXAMPLE,
    SECRET_EXAMPLE,
    DeliveryDetail,
    DeliveryOut,
    DeliveryPage,
    DeliveryStatus,
    EndpointCreate,
    EndpointCreated,
    EndpointList,
    EndpointOut,
    EndpointUpdate,
    ReplayRequest,
    ReplayResult,
    SecretRotation,
)
from shared.auth import Principal, require_roles
from shared.errors import InvalidInput
from shared.runtime import ServiceRuntime

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"])

MerchantKey = Annotated[Principal, Depends(require_roles("merchant"))]
EndpointId = Annotated[str, Path(description="The endpoint id", examples=["we_5b1f0c9e2d7a4f3b8c6e1a20"],
                                 max_length=64)]
DeliveryId = Annotated[str, Path(description="The delivery id", examples=["whd_0c7e3b9a1d2f4e5a6b7c8d90"],
                                 max_length=64)]

_COMMON = (
    (401, "Missing, unknown or revoked API key",
     examples.problem(401, "api_key_invalid", "Missing or invalid API key", "Unknown or revoked API key")),
    (403, "Only merchant keys manage webhooks",
     examples.problem(403, "role_not_allowed", "Not allowed for this key",
                      "This endpoint needs a key with role merchant")),
    (422, "Invalid input: the field at fault and a stable code",
     examples.problem(422, "too_long", "Invalid input", "String should have at most 64 characters",
                      field="endpoint_id", instance="/v1/webhook-endpoints/…")),
)
_NOT_FOUND = (404, "No such endpoint (or another merchant's)",
              examples.problem(404, "webhook_endpoint_not_found", "Not found",
                               "No webhook endpoint we_5b1f0c9e2d7a4f3b8c6e1a20",
                               instance="/v1/webhook-endpoints/we_5b1f0c9e2d7a4f3b8c6e1a20"))
_BAD_URL = (422, "Invalid URL or event type: every field at fault, each with a stable code",
            examples.problem(422, "url_private_address", "Invalid input",
                             "the URL's host resolves to a private address (10.0.0.7); webhooks go to public addresses",
                             field="url", instance="/v1/webhook-endpoints"))
_DISABLED = (409, "The endpoint is disabled: enable it first",
             examples.problem(409, "webhook_endpoint_disabled", "Conflict",
                              "Webhook endpoint we_5b1f… is disabled (…); enable it first: what waited is sent then"))
_CREATE_EXAMPLES = {
    "some": {"summary": "Holds, rejections and deliveries",
             "value": {"url": ENDPOINT_EXAMPLE["url"], "description": "order updates for the shop",
                       "event_types": ["declaration.held", "declaration.rejected", "parcel.delivered"]}},
    "all": {"summary": "Every event type", "value": {"url": ENDPOINT_EXAMPLE["url"], "event_types": ["*"]}},
}
_UPDATE_EXAMPLES = {
    "enable": {"summary": "Re-enable after fixing the endpoint", "value": {"enabled": True}},
    "types": {"summary": "Change the event types", "value": {"event_types": ["*"]}},
}
_ROTATE_EXAMPLES = {"day": {"summary": "Old secret signs too for a day", "value": {"expires_in_s": 86400}},
                    "now": {"summary": "Old secret stops at once", "value": {"expires_in_s": 0}}}
_REPLAY_EXAMPLES = {"failed": {"summary": "Every failed delivery since a time",
                               "value": {"since": "2026-03-01T00:00:00Z", "status": "failed"}}}

EVENTS_DOC = "\n".join(f"- `{name}`: {text}" for name, text in rules.EVENT_TYPES.items())


def runtime_of(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


@router.post(
    "", status_code=201, response_model=EndpointCreated, summary="Register a webhook endpoint",
    responses=responses((201, "The endpoint with its signing secret (shown once)",
                         {**ENDPOINT_EXAMPLE, "secret": SECRET_EXAMPLE}), *_COMMON, _BAD_URL,
                        (409, "Too many endpoints",
                         examples.problem(409, "webhook_endpoint_limit", "Conflict",
                                          "A merchant has at most 16 webhook endpoints; delete one first"))),
    description=f"""We POST a signed JSON body to the URL each time one of your orders changes in a way you
subscribed to. The answer carries the endpoint's signing `secret`, **once**: store it. (We keep it too, server-side,
to sign each delivery.) Event types:

{EVENTS_DOC}

Each POST has `Content-Type: application/json`, `Silkgate-Event-Id`, `Silkgate-Event-Type` and
`Silkgate-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. Answer 2xx within 10 s; anything else
is retried with exponential backoff for up to 3 days, and an endpoint failing for a day is disabled. Example body:

```json
{json.dumps(EVENT_EXAMPLE, indent=2)}
```""",
)
async def create_endpoint(request: Request,
                          body: Annotated[EndpointCreate, Body(openapi_examples=_CREATE_EXAMPLES)],
                          principal: MerchantKey) -> JSONResponse:
    runtime = runtime_of(request)
    event_types = await service.validate_endpoint(runtime.settings, url=body.url, event_types=body.event_types)
    async with runtime.db.transaction() as session:
        created = await service.create_endpoint(session, runtime.settings, principal=principal, body=body,
                                                event_types=event_types)
    return JSONResponse(created, status_code=201, headers={"Location": f"/v1/webhook-endpoints/{created['id']}"})


@router.get("", response_model=EndpointList, summary="Your webhook endpoints",
            responses=responses((200, "Your endpoints, oldest first", {"data": [ENDPOINT_EXAMPLE]}), *_COMMON[:2]))
async def list_endpoints(request: Request, principal: MerchantKey) -> JSONResponse:
    async with runtime_of(request).db.reader() as session:
        return JSONResponse(await service.list_endpoints(session, principal))


@router.get("/{endpoint_id}", response_model=EndpointOut, summary="A webhook endpoint, and why it is disabled",
            responses=responses((200, "The endpoint", ENDPOINT_EXAMPLE), *_COMMON, _NOT_FOUND))
async def get_endpoint(request: Request, endpoint_id: EndpointId, principal: MerchantKey) -> JSONResponse:
    async with runtime_of(request).db.reader() as session:
        return JSONResponse(await service.get_endpoint(session, principal, endpoint_id))


@router.patch("/{endpoint_id}", response_model=EndpointOut, summary="Change, enable or disable an endpoint",
              responses=responses((200, "The endpoint as changed", ENDPOINT_EXAMPLE), *_COMMON, _NOT_FOUND,
                                  _BAD_URL))
async def update_endpoint(request: Request, endpoint_id: EndpointId,
                          body: Annotated[EndpointUpdate, Body(openapi_examples=_UPDATE_EXAMPLES)],
                          principal: MerchantKey) -> JSONResponse:
    """Send only the fields that change. `{"enabled": true}` re-enables an endpoint we disabled: deliveries that
    waited meanwhile are sent at once, each with a fresh retry window."""
    runtime = runtime_of(request)
    event_types = await service.validate_endpoint(runtime.settings, url=body.url, event_types=body.event_types)
    async with runtime.db.transaction() as session:
        return JSONResponse(await service.update_endpoint(session, principal=principal, endpoint_id=endpoint_id,
                                                          body=body, event_types=event_types))


@router.delete("/{endpoint_id}", status_code=204, summary="Delete an endpoint: nothing more is sent to it",
               responses={204: {"description": "Deleted, with its delivery log"},
                          **responses(*_COMMON, _NOT_FOUND)})
async def delete_endpoint(request: Request, endpoint_id: EndpointId, principal: MerchantKey) -> Response:
    async with runtime_of(request).db.transaction() as session:
        await service.delete_endpoint(session, principal=principal, endpoint_id=endpoint_id)
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate-secret", response_model=EndpointCreated,
             summary="Replace the signing secret; the old one keeps signing for an overlap window",
             responses=responses((200, "The endpoint with its new signing secret (shown once)",
                                  {**ENDPOINT_EXAMPLE, "secret": SECRET_EXAMPLE,
                                   "previous_secret_expires_at": "2026-03-02T02:21:13Z"}), *_COMMON, _NOT_FOUND))
async def rotate_secret(request: Request, endpoint_id: EndpointId, principal: MerchantKey,
                        body: Annotated[SecretRotation, Body(openapi_examples=_ROTATE_EXAMPLES)] = SecretRotation(),
                        ) -> JSONResponse:
    """A new `secret`, shown once. Until `previous_secret_expires_at` (now + `expires_in_s`, default 24 h, at most 7
    days; 0 ends it at once) every delivery carries two `v1` signatures, one per secret: deploy the new secret to
    your receiver within that window; a verifier accepting any matching `v1` keeps working throughout."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        return JSONResponse(await service.rotate_secret(session, runtime.settings, principal=principal,
                                                        endpoint_id=endpoint_id, expires_in_s=body.expires_in_s))


@router.get("/{endpoint_id}/deliveries", response_model=DeliveryPage, summary="The delivery log, newest first",
            responses=responses((200, "A page of deliveries with their attempts", DELIVERY_PAGE_EXAMPLE), *_COMMON,
                                _NOT_FOUND))
async def list_deliveries(
    request: Request,
    endpoint_id: EndpointId,
    principal: MerchantKey,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    starting_after: Annotated[str | None, Query(max_length=64, description="The last id of the previous page")] = None,
) -> JSONResponse:
    """Every delivery with its attempts: when, how long, the status code or error, the start of your answer."""
    async with runtime_of(request).db.reader() as session:
        return JSONResponse(await service.list_deliveries(session, principal=principal, endpoint_id=endpoint_id,
                                                          status=status, starting_after=starting_after, limit=limit))


@router.get("/{endpoint_id}/deliveries/{delivery_id}", response_model=DeliveryDetail,
            summary="One delivery, its attempts and the body sent",
            responses=responses((200, "The delivery", {**DELIVERY_EXAMPLE, "payload": EVENT_EXAMPLE}), *_COMMON,
                                _NOT_FOUND))
async def get_delivery(request: Request, endpoint_id: EndpointId, delivery_id: DeliveryId,
                       principal: MerchantKey) -> JSONResponse:
    async with runtime_of(request).db.reader() as session:
        return JSONResponse(await service.get_delivery(session, principal=principal, endpoint_id=endpoint_id,
                                                       delivery_id=delivery_id))


@router.post("/{endpoint_id}/deliveries/{delivery_id}/replay", status_code=202, response_model=DeliveryOut,
             summary="Send one delivery again",
             responses=responses((202, "Queued: sent at once", {**DELIVERY_EXAMPLE, "status": "pending",
                                                                 "next_attempt_at": "2026-03-02T09:00:00Z"}),
                                 *_COMMON, _NOT_FOUND, _DISABLED))
async def replay_delivery(request: Request, endpoint_id: EndpointId, delivery_id: DeliveryId,
                          principal: MerchantKey) -> JSONResponse:
    """Queue the event again for this endpoint now, whatever its status; same event id (dedupe on it)."""
    async with runtime_of(request).db.transaction() as session:
        delivery = await service.replay_delivery(session, principal=principal, endpoint_id=endpoint_id,
                                                 delivery_id=delivery_id)
    return JSONResponse(delivery, status_code=202)


@router.post("/{endpoint_id}/replay", status_code=202, response_model=ReplayResult,
             summary="Send again every failed delivery since a time",
             responses=responses((202, "How many deliveries were queued again", {"replayed": 3}), *_COMMON,
                                 _NOT_FOUND, _DISABLED))
async def replay_failed(request: Request, endpoint_id: EndpointId, principal: MerchantKey,
                        body: Annotated[ReplayRequest, Body(openapi_examples=_REPLAY_EXAMPLES)]) -> JSONResponse:
    """Requeue the endpoint's deliveries that were given up (`status: failed`) created at or after `since`."""
    if body.since.tzinfo is None:
        raise InvalidInput("since needs a time zone, e.g. 2026-03-01T00:00:00Z", code="timezone_required",
                           field="since")
    async with runtime_of(request).db.transaction() as session:
        result = await service.replay_since(session, principal=principal, endpoint_id=endpoint_id, since=body.since,
                                            status=body.status)
    return JSONResponse(result, status_code=202)
