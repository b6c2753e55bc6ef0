"""HTTP endpoints of the postal service: tracking events in from carriers, parcels and dispatches out."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError

from services.postal import queries
from services.postal.schemas import (
    DispatchOut,
    DispatchPage,
    ParcelOut,
    TrackingEventBatch,
    TrackingEventIn,
    TrackingEventResult,
    TrackingEventsResponse,
)
from services.postal.tracking import ANY_CARRIER, TrackingEventInput, carrier_codes, record_events
from shared.auth import Principal, require_roles
from shared.bodies import parse_json
from shared.db import utcnow
from shared.errors import Forbidden, InvalidInput, SilkgateError, invalid_input_from, validation_errors

router = APIRouter(prefix="/v1", tags=["postal"])


def carrier_key(*roles: str):
    """require_roles, refusing outside the sandbox a carrier key that acts for every carrier ("*")."""
    base = require_roles(*roles)

    async def dependency(request: Request) -> Principal:
        principal = await base(request)
        if (principal.role == "carrier" and ANY_CARRIER in carrier_codes(principal.owner)
                and not request.app.state.runtime.settings.sandbox):
            raise Forbidden("A carrier key acting for every carrier (*) works only in the sandbox; "
                            "use a key naming your carrier codes", code="wildcard_key_not_allowed")
        return principal

    return dependency


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem+json answers an endpoint gives."""
    meaning = {401: "No or an unknown API key", 403: "The key's role or carrier may not do this",
               404: "Not found, or not yours to see", 422: "Invalid input; `field` names the culprit"}
    return {status: {"description": meaning[status], "content": {"application/problem+json": {}}}
            for status in statuses}

_TRACKING_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {
            "schema": {"oneOf": [TrackingEventIn.model_json_schema(),
                                 {"type": "object", "required": ["events"], "additionalProperties": False,
                                  "properties": {"events": {"type": "array", "minItems": 1,
                                                            "items": TrackingEventIn.model_json_schema()}}}]},
            "examples": {
                "one": {"value": TrackingEventIn.model_config["json_schema_extra"]["examples"][0]},
                "batch": {"value": {"events": [
                    {"tracking_number": "CP000000014CN", "code": "EMC", "occurred_at": "2026-03-02T06:00:00Z",
                     "location": "CNURCA"},
                    {"tracking_number": "SGX0000000019", "code": "DL", "occurred_at": "2026-03-03T10:30:00Z",
                     "location": "Almaty"},
                ]}},
            },
        }},
    }
}


async def _json_body(request: Request) -> Any:
    return parse_json(await request.body())


def _parse_item(raw: Any, prefix: str) -> TrackingEventInput:
    try:
        event = TrackingEventIn.model_validate(raw)
    except ValidationError as exc:
        errors = validation_errors(list(exc.errors()))
        for error in errors:
            error["field"] = f"{prefix}{error['field']}" if prefix else error["field"]
        raise invalid_input_from(errors) from None
    return TrackingEventInput(tracking_number=event.tracking_number, code=event.code, occurred_at=event.occurred_at,
                              location=event.location, description=event.description)


def _parse_batch(body: Any, limit: int) -> tuple[list[TrackingEventInput | None], dict[int, SilkgateError]]:
    try:
        batch = TrackingEventBatch.model_validate(body)
    except ValidationError as exc:
        raise invalid_input_from(validation_errors(list(exc.errors()))) from None
    if len(batch.events) > limit:
        raise InvalidInput(f"A batch holds at most {limit} events", code="too_many_items", field="events")
    items: list[TrackingEventInput | None] = []
    invalid: dict[int, SilkgateError] = {}
    for index, raw in enumerate(batch.events):
        try:
            items.append(_parse_item(raw, f"events[{index}]."))
        except InvalidInput as error:
            items.append(None)
            invalid[index] = error
    return items, invalid


@router.post(
    "/tracking-events",
    response_model=TrackingEventsResponse,
    summary="Report tracking events (one, or a batch under \"events\")",
    description=(
        "EMSEVT codes for mail, the carrier's own codes otherwise, each mapped to one canonical status with the "
        "original code kept. Duplicates (same parcel, code and time) are answered `duplicate`; unknown codes are "
        "stored (known=false). A carrier reports only on parcels handed to it: 404 for any other (unknown, not "
        "handed off yet, or another carrier's: the same answer). A batch answers 200 with one result "
        "per event; a single rejected event answers with its problem status."
    ),
    openapi_extra=_TRACKING_BODY,
    responses=_problems(401, 403, 404, 422),
)
async def post_tracking_events(
    request: Request, principal: Annotated[Principal, Depends(carrier_key("carrier"))],
) -> TrackingEventsResponse:
    runtime = request.app.state.runtime
    settings = runtime.settings
    body = await _json_body(request)
    single = not (isinstance(body, dict) and "events" in body)
    if single:
        items: list[TrackingEventInput | None] = [_parse_item(body, "")]
        invalid: dict[int, SilkgateError] = {}
    else:
        items, invalid = _parse_batch(body, settings.tracking_batch_max)
    async with runtime.db.transaction() as session:
        results = await record_events(
            session, settings, items, carriers=carrier_codes(principal.owner), poster=principal.owner,
            outbox=runtime.outbox, now=utcnow(), invalid=invalid,
        )
    if single and results[0].error is not None:
        raise results[0].error
    outcome = [
        TrackingEventResult(index=r.index, tracking_number=r.tracking_number, result=r.result, code=r.code,
                            status=r.status, known=r.known, problem=r.problem())
        for r in results
    ]
    return TrackingEventsResponse(
        accepted=sum(r.result == "accepted" for r in outcome),
        duplicate=sum(r.result == "duplicate" for r in outcome),
        rejected=sum(r.result == "rejected" for r in outcome),
        results=outcome,
    )


@router.get("/parcels/{tracking_number}", response_model=ParcelOut, responses=_problems(401, 403, 404),
            summary="A parcel with its receptacle, dispatch and tracking history")
async def get_parcel(
    tracking_number: str, request: Request, principal: Annotated[Principal, Depends(carrier_key("carrier", "ops"))],
) -> ParcelOut:
    runtime = request.app.state.runtime
    async with runtime.db.reader() as session:
        return await queries.parcel_view(session, principal, tracking_number)


@router.get("/dispatches", response_model=DispatchPage, responses=_problems(401, 403, 422),
            summary="Dispatches, newest first (ops)")
async def list_dispatches(
    request: Request,
    _principal: Annotated[Principal, Depends(require_roles("ops"))],
    status: Literal["open", "closed", "handing_off", "handed_off", "emptied"] | None = None,
    carrier: Annotated[str | None, Query(max_length=16)] = None,
    cursor: Annotated[str | None, Query(max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DispatchPage:
    runtime = request.app.state.runtime
    async with runtime.db.reader() as session:
        return await queries.dispatch_page(session, status=status, carrier=carrier, cursor=cursor, limit=limit)


@router.get("/dispatches/{dispatch_id}", response_model=DispatchOut, responses=_problems(401, 403, 404),
            summary="A dispatch (dsp_ id or S9 dispatch identifier) with its receptacles and manifest")
async def get_dispatch(
    dispatch_id: str, request: Request, principal: Annotated[Principal, Depends(carrier_key("carrier", "ops"))],
) -> DispatchOut:
    runtime = request.app.state.runtime
    async with runtime.db.reader() as session:
        return await queries.dispatch_view(session, principal, dispatch_id)
