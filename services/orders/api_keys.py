"""Ops endpoints for the API keys this service holds (merchant, payment, logistics, ops)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from services.orders import examples, keys
from services.orders.examples import responses
from services.orders.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from shared.auth import Principal, require_roles

router = APIRouter(prefix="/api-keys", tags=["api keys"])
OpsKey = Annotated[Principal, Depends(require_roles("ops"))]
KeyId = Annotated[str, Path(max_length=32, examples=["5c1e0a9f3b7d2e41"])]
_OPS_ONLY = (
    (401, "Missing, unknown or revoked API key",
     examples.problem(401, "api_key_invalid", "Missing or invalid API key", "Unknown or revoked API key",
                      instance="/v1/api-keys")),
    (403, "Only ops keys manage keys",
     examples.problem(403, "role_not_allowed", "Not allowed for this key", "This endpoint needs a key with role ops",
                      instance="/v1/api-keys")),
    (422, "Invalid input: the field at fault and a stable code",
     examples.problem(422, "partner_unknown", "Invalid input",
                      "ALIPAY is no registered partner: register it first (silkgate partners add)",
                      field="owner", instance="/v1/api-keys")),
)


def _json(key: dict) -> dict:
    return ApiKeyOut.model_validate(key).model_dump(mode="json")


@router.get("", response_model=list[ApiKeyOut], summary="List API keys (never their secrets or hashes)",
            responses=responses((200, "Keys, oldest first", [examples.API_KEY_EXAMPLE]), *_OPS_ONLY))
async def list_keys(
    request: Request,
    _principal: OpsKey,
    role: Literal["merchant", "payment", "logistics", "ops"] | None = None,
    owner: Annotated[str | None, Query(max_length=64)] = None,
    active: bool | None = None,
) -> JSONResponse:
    async with request.app.state.runtime.db.reader() as session:
        found = await keys.list_api_keys(session, role=role, owner=owner, active=active)
    return JSONResponse([_json(key) for key in found])


@router.post(
    "", status_code=201, response_model=ApiKeyCreated, summary="Create an API key (the key is shown once)",
    responses=responses((201, "The key: store it now, it is not shown again",
                         {**examples.API_KEY_EXAMPLE, "key": "sg_merchant_0Jx5…"}), *_OPS_ONLY),
)
async def create_key(
    request: Request,
    body: Annotated[ApiKeyCreate, Body(openapi_examples={
        "merchant": {"summary": "A merchant's key", "value": {"role": "merchant", "owner": "KSG-HONEY",
                                                              "name": "Honey shop ERP"}},
        "payment": {"summary": "A payment provider's key", "value": {"role": "payment", "owner": "ALIPAY",
                                                                    "name": "Alipay notifications"}},
    })],
    _principal: OpsKey,
) -> JSONResponse:
    """A merchant key (owner = merchant code) also registers the merchant. A `payment` or `logistics` key's owner
    is a registered partner's code (`/v1/partners`) of that kind: it acts only for the merchants bound to it."""
    async with request.app.state.runtime.db.transaction() as session:
        key_id, key = await keys.create_api_key(session, role=body.role, owner=body.owner, name=body.name)
        stored = await keys.get_api_key(session, key_id)
    return JSONResponse({**_json(stored), "key": key}, status_code=201)


@router.delete("/{key_id}", response_model=ApiKeyOut, summary="Revoke an API key, effective at once",
               responses=responses((200, "The key, revoked", {**examples.API_KEY_EXAMPLE, "active": False,
                                                              "revoked_at": "2026-03-02T09:00:00Z"}), *_OPS_ONLY,
                                   (404, "No such key",
                                    examples.problem(404, "api_key_not_found", "Not found",
                                                     "No API key 5c1e0a9f3b7d2e41",
                                                     instance="/v1/api-keys/5c1e0a9f3b7d2e41"))))
async def revoke_key(request: Request, key_id: KeyId, _principal: OpsKey) -> JSONResponse:
    """Revoking a revoked key returns it unchanged."""
    async with request.app.state.runtime.db.transaction() as session:
        return JSONResponse(_json(await keys.revoke_api_key(session, key_id)))
