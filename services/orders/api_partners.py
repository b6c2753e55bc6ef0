"""Ops endpoints for the partner registry: payment providers, external logistics companies, and the merchants
each serves."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from services.orders import examples, partners
from services.orders.examples import responses
from services.orders.schemas import BindingOut, PartnerCreate, PartnerKind, PartnerOut, PartnerUpdate
from shared.auth import Principal, require_roles

router = APIRouter(prefix="/v1/partners", tags=["partners"])
OpsKey = Annotated[Principal, Depends(require_roles("ops"))]
Code = Annotated[str, Path(max_length=16, description="The partner's code", examples=["ALIPAY"])]
MerchantCode = Annotated[str, Path(max_length=64, description="The merchant's code", examples=["KSG-HONEY"])]
_INSTANCE = "/v1/partners/ALIPAY"
_OPS_ONLY = (
    (401, "Missing, unknown or revoked API key",
     examples.problem(401, "api_key_invalid", "Missing or invalid API key", "Unknown or revoked API key",
                      instance="/v1/partners")),
    (403, "Only ops keys manage partners",
     examples.problem(403, "role_not_allowed", "Not allowed for this key", "This endpoint needs a key with role ops",
                      instance="/v1/partners")),
    (422, "Invalid input: the field at fault and a stable code",
     examples.problem(422, "uscc_invalid", "Invalid input",
                      "not a valid Unified Social Credit Code (GB 32100 check character)", field="uscc",
                      instance="/v1/partners")),
)
_NOT_FOUND = (404, "No such partner", examples.problem(404, "partner_not_found", "Not found", "No partner ALIPAY",
                                                       instance=_INSTANCE))


def _json(partner: dict) -> dict:
    return PartnerOut.model_validate(partner).model_dump(mode="json")


@router.post(
    "", status_code=201, response_model=PartnerOut, summary="Register a payment provider or a logistics company",
    responses=responses((201, "The partner, bound to no merchant yet", {**examples.PARTNER_EXAMPLE, "merchants": []}),
                        *_OPS_ONLY,
                        (409, "The code is taken", examples.problem(409, "partner_exists", "Conflict",
                                                                    "A partner ALIPAY exists already", field="code",
                                                                    instance="/v1/partners"))),
)
async def add_partner(
    request: Request,
    body: Annotated[PartnerCreate, Body(openapi_examples={
        "payment": {"summary": "A payment provider", "value": {"code": "ALIPAY", "kind": "payment",
                                                               "name": "Alipay", "uscc": "91350100M000100Y43"}},
        "logistics": {"summary": "A logistics company", "value": {"code": "YTO", "kind": "logistics",
                                                                  "name": "YTO Express"}},
    })],
    _principal: OpsKey,
) -> JSONResponse:
    """Then make its keys (`POST /v1/api-keys` with role `payment` or `logistics` and owner = the code) and bind it
    to the merchants it serves."""
    async with request.app.state.runtime.db.transaction() as session:
        partner = await partners.add_partner(session, code=body.code, kind=body.kind, name=body.name, uscc=body.uscc)
    return JSONResponse(_json(partner), status_code=201)


@router.get("", response_model=list[PartnerOut], summary="List partners",
            responses=responses((200, "Partners by code", [examples.PARTNER_EXAMPLE]), *_OPS_ONLY))
async def list_partners(
    request: Request,
    _principal: OpsKey,
    kind: PartnerKind | None = None,
    merchant: Annotated[str | None, Query(max_length=64, description="Only those serving this merchant")] = None,
) -> JSONResponse:
    async with request.app.state.runtime.db.reader() as session:
        found = await partners.list_partners(session, kind=kind, merchant_code=merchant)
    return JSONResponse([_json(partner) for partner in found])


@router.get("/{code}", response_model=PartnerOut, summary="A partner and the merchants it serves",
            responses=responses((200, "The partner", examples.PARTNER_EXAMPLE), *_OPS_ONLY, _NOT_FOUND))
async def get_partner(request: Request, code: Code, _principal: OpsKey) -> JSONResponse:
    async with request.app.state.runtime.db.reader() as session:
        return JSONResponse(_json(await partners.get_partner(session, code)))


@router.patch("/{code}", response_model=PartnerOut, summary="Rename, set the USCC, deactivate or reactivate",
              responses=responses((200, "The partner", {**examples.PARTNER_EXAMPLE, "active": False}), *_OPS_ONLY,
                                  _NOT_FOUND))
async def update_partner(
    request: Request,
    code: Code,
    body: Annotated[PartnerUpdate, Body(openapi_examples={"deactivate": {"summary": "Stop all its keys at once",
                                                                         "value": {"active": False}}})],
    _principal: OpsKey,
) -> JSONResponse:
    """An inactive partner's keys act for nobody: every order is a 404 to them."""
    async with request.app.state.runtime.db.transaction() as session:
        partner = await partners.update_partner(session, code, body.model_dump(exclude_unset=True))
    return JSONResponse(_json(partner))


@router.put(
    "/{code}/merchants/{merchant_code}", response_model=BindingOut, summary="Bind a partner to a merchant",
    responses=responses(
        (200, "Bound (binding again changes nothing)",
         {"partner_code": "ALIPAY", "merchant_code": "KSG-HONEY", "bound": True}),
        *_OPS_ONLY,
        (404, "No such partner (`partner_not_found`) or merchant (`merchant_not_found`)",
         examples.problem(404, "merchant_not_found", "Not found",
                          "No merchant KSG-HONEY: a merchant is registered with its first key",
                          instance="/v1/partners/ALIPAY/merchants/KSG-HONEY"))),
)
async def bind(request: Request, code: Code, merchant_code: MerchantCode, _principal: OpsKey) -> JSONResponse:
    """From now on the partner's keys send documents for this merchant's orders."""
    async with request.app.state.runtime.db.transaction() as session:
        await partners.bind(session, code=code, merchant_code=merchant_code)
    return JSONResponse({"partner_code": code, "merchant_code": merchant_code, "bound": True})


@router.delete(
    "/{code}/merchants/{merchant_code}", response_model=BindingOut, summary="Unbind a partner from a merchant",
    responses=responses(
        (200, "Unbound", {"partner_code": "ALIPAY", "merchant_code": "KSG-HONEY", "bound": False}), *_OPS_ONLY,
        (404, "No such partner, or it was not bound to that merchant (`binding_not_found`)",
         examples.problem(404, "binding_not_found", "Not found", "Partner ALIPAY is not bound to merchant KSG-HONEY",
                          instance="/v1/partners/ALIPAY/merchants/KSG-HONEY"))),
)
async def unbind(request: Request, code: Code, merchant_code: MerchantCode, _principal: OpsKey) -> JSONResponse:
    """At once, the partner's keys get 404 for this merchant's orders."""
    async with request.app.state.runtime.db.transaction() as session:
        await partners.unbind(session, code=code, merchant_code=merchant_code)
    return JSONResponse({"partner_code": code, "merchant_code": merchant_code, "bound": False})
