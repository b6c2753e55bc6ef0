"""HTTP endpoints of the sandbox carrier: take manifests, show how far their parcels got."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from services.carrier import repository
from services.carrier.schemas import ManifestIn, ManifestStatus, Receipt
from services.carrier.service import accept_manifest, receipt_of
from shared.auth import bearer_key
from shared.errors import NotFound, Unauthorized

router = APIRouter(prefix="/v1", tags=["sandbox carrier"])


def _check_key(request: Request) -> None:
    expected = request.app.state.settings.manifest_api_key
    if expected and bearer_key(request) != expected:
        raise Unauthorized("Unknown API key", code="api_key_invalid")


@router.post("/manifests", status_code=202, response_model=Receipt,
             summary="Take a dispatch manifest (once per dispatch; a repeat answers with the first receipt)")
async def post_manifest(
    manifest: ManifestIn, request: Request,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> JSONResponse:
    _check_key(request)
    receipt = await accept_manifest(request.app.state.db, request.app.state.settings,
                                    manifest.model_dump(mode="json"), idempotency_key=idempotency_key)
    return JSONResponse(receipt.body, status_code=202)


@router.get("/manifests/{dispatch_id}", response_model=ManifestStatus,
            responses={404: {"description": "No manifest was received for this dispatch"}},
            summary="A received manifest's receipt and how many of its events went out")
async def get_manifest(dispatch_id: str, request: Request) -> ManifestStatus:
    _check_key(request)
    db = request.app.state.db
    async with db.reader() as session:
        row = await repository.find_manifest(session, dispatch_id=dispatch_id, idempotency_key=None)
        if row is None:
            raise NotFound(f"No manifest for dispatch {dispatch_id}", code="manifest_not_found")
        events = await repository.progress(session, dispatch_id)
    return ManifestStatus(receipt=Receipt(**receipt_of(row._mapping, duplicate=False).body), events=events)
