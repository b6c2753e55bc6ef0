"""The dead letters of one service over HTTP, for ops keys: the same operations as `silkgate dlq` (shared.dlq).

Each service shows only the messages its own consumers parked; another service's dead letter is a 404 here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from nats.errors import Error as NatsError
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from shared.auth import Principal, require_roles
from shared.dlq import DeadLetterNotFound, DeadLetters
from shared.errors import Conflict, NotFound, ServiceUnavailable
from shared.natsauth import ADMIN_USER

OpsKey = Annotated[Principal, Depends(require_roles("ops"))]
MAX_SEQUENCE = 2**63 - 1  # JetStream sequences are unsigned 64-bit; anything past this is no dead letter
DeadLetterId = Annotated[int, Field(ge=1, le=MAX_SEQUENCE,
                                    description="The dead letter's sequence number in the SILKGATE_DLQ stream")]


class DeadLetterSummary(BaseModel):
    id: int
    service: str
    subject: str = Field(description="The original subject")
    reason: str = Field(description="Why the last attempt failed")
    attempts: int = Field(description="Deliveries before it was parked")
    parked_at: str | None
    event_id: str | None
    event_type: str | None
    order_id: str | None
    correlation_id: str | None


class DeadLetterDetail(DeadLetterSummary):
    stream: str
    headers: dict[str, str]
    event: Any = Field(description="The original message: the event envelope, or its text if it is not JSON")


class DeadLetterPage(BaseModel):
    data: list[DeadLetterSummary]
    total: int = Field(description="This service's dead letters in all")
    next_after: int | None = Field(description="Pass as `after` for the next page; null on the last")


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[DeadLetterId] = Field(default_factory=list, max_length=1000)
    all: StrictBool = Field(default=False, description="Replay every dead letter of this service")

    @model_validator(mode="after")
    def _one_of(self) -> ReplayRequest:
        if bool(self.ids) == self.all:
            raise ValueError("send either `ids` or `all: true`")
        return self


class ReplayResult(BaseModel):
    replayed: list[DeadLetterSummary]


class DropResult(BaseModel):
    dropped: DeadLetterSummary


_SUMMARY_EXAMPLE = {
    "id": 42, "service": "customs", "subject": "silkgate.postal.waybill.issued.v1",
    "reason": "OperationalError: could not obtain lock on row in relation \"declarations\"", "attempts": 5,
    "parked_at": "2026-03-01T02:21:13.412000+00:00", "event_id": "9a0d4c1b7e2f4a6b8c3d5e71a2b4c6d8",
    "event_type": "silkgate.postal.waybill.issued.v1", "order_id": "ord_3f9c2a7be1d04c6a8e5f0b12",
    "correlation_id": "5be0c1d2e3f4a5b6c7d8e9f0a1b2c3d4",
}
_DETAIL_EXAMPLE = {
    **_SUMMARY_EXAMPLE, "stream": "SILKGATE_POSTAL",
    "headers": {"traceparent": "00-5be0c1d2e3f4a5b6c7d8e9f0a1b2c3d4-b7ad6b7169203331-01"},
    "event": {"specversion": "1.0", "id": "9a0d4c1b7e2f4a6b8c3d5e71a2b4c6d8", "source": "silkgate/postal",
              "type": "silkgate.postal.waybill.issued.v1", "subject": "ord_3f9c2a7be1d04c6a8e5f0b12",
              "time": "2026-03-01T02:20:41Z", "datacontenttype": "application/json",
              "correlation_id": "5be0c1d2e3f4a5b6c7d8e9f0a1b2c3d4", "causation_id": None,
              "data": {"order_id": "ord_3f9c2a7be1d04c6a8e5f0b12", "tracking_number": "CP123456785CN"}},
}


def _problem(status: int, code: str, title: str, detail: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": f"https://silkgate.dev/problems/{code}", "title": title, "status": status,
                            "code": code, "detail": detail, "instance": "/v1/ops/dead-letters/42"}
    return {**body, "field": field} if field else body


def _responses(ok: tuple[str, dict[str, Any]], *, not_found: bool = True,
               replay: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses with an example each: the success, and the problems an operator can meet."""
    entries = [
        (200, ok[0], ok[1]),
        (401, "No or an unknown key", _problem(401, "api_key_invalid", "Missing or invalid API key",
                                               "Unknown or revoked API key")),
        (403, "Not an ops key", _problem(403, "role_not_allowed", "Not allowed for this key",
                                         "This endpoint needs a key with role ops")),
        (422, "A bad id or body", _problem(422, "greater_than_equal", "Invalid input",
                                           "Input should be greater than or equal to 1", field="dead_letter_id")),
        (503, "The broker is not reachable", _problem(503, "broker_unavailable", "Service unavailable",
                                                      "The broker is not reachable; try again shortly")),
    ]
    if replay:
        entries.append((409, "This service's NATS user may not publish the event: an operator replays it",
                        _problem(409, "replay_needs_operator", "Conflict",
                                 "Replaying publishes another service's event, which this service's NATS user may "
                                 "not do; an operator replays with `silkgate dlq replay <id>`")))
    if not_found:
        entries.append((404, "No such dead letter for this service",
                        _problem(404, "dead_letter_not_found", "Not found", "No dead letter 42 for customs",
                                 field="dead_letter_id")))
    return {status: {"description": description,
                     "content": {"application/json" if status < 400 else "application/problem+json":
                                 {"example": example}}}
            for status, description, example in entries}


def _broker_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("The broker is not reachable; try again shortly", code="broker_unavailable",
                              headers={"Retry-After": "5"})


def _replay_needs_operator(request: Request) -> None:
    """A replay publishes the original event on its producer's subject. A service connected with its own NATS user
    may publish only its own subjects (shared.natsauth) and consumes only other services' events, so the broker
    would drop the publish; refuse at once and say who can."""
    user = request.app.state.runtime.bus.connect_options.get("user")
    if user and user != ADMIN_USER:
        raise Conflict("Replaying publishes another service's event, which this service's NATS user may not do; an "
                       "operator replays with `silkgate dlq replay <id>` (the operators' credentials)",
                       code="replay_needs_operator")


def dead_letter_router(service: str) -> APIRouter:
    router = APIRouter(prefix="/v1/ops/dead-letters", tags=["operations"])

    def letters(request: Request) -> DeadLetters:
        js = request.app.state.runtime.bus.js
        if js is None or not request.app.state.runtime.bus.connected:
            raise _broker_unavailable()
        return DeadLetters(js)

    async def one(request: Request, dead_letter_id: int, action: str) -> Any:
        try:
            return await getattr(letters(request), action)(dead_letter_id, service=service)
        except DeadLetterNotFound as exc:
            raise NotFound(f"No dead letter {dead_letter_id} for {service}", code="dead_letter_not_found",
                           field="dead_letter_id") from exc
        except NatsError as exc:
            raise _broker_unavailable() from exc

    @router.get("", summary="This service's dead letters, oldest first (ops)", response_model=DeadLetterPage,
                responses=_responses(("A page of dead letters", {"data": [_SUMMARY_EXAMPLE], "total": 3,
                                                                 "next_after": 42}), not_found=False))
    async def list_dead_letters(request: Request, _principal: OpsKey,
                                limit: Annotated[int, Query(ge=1, le=500)] = 50,
                                after: Annotated[int, Query(ge=0, le=MAX_SEQUENCE - 1)] = 0) -> dict:
        store = letters(request)
        try:
            found = await store.list(service=service, limit=limit + 1, after=after)
            total = await store.count(service)
        except NatsError as exc:
            raise _broker_unavailable() from exc
        page = found[:limit]
        return {"data": [letter.summary() for letter in page], "total": total,
                "next_after": page[-1].id if len(found) > limit else None}

    @router.get("/{dead_letter_id}", summary="One dead letter with its original event (ops)",
                response_model=DeadLetterDetail, responses=_responses(("The dead letter", _DETAIL_EXAMPLE)))
    async def show_dead_letter(request: Request, _principal: OpsKey, dead_letter_id: DeadLetterId) -> dict:
        return (await one(request, dead_letter_id, "get")).detail()

    @router.post("/{dead_letter_id}/replay", summary="Hand one dead letter to this service's consumer again (ops)",
                 response_model=ReplayResult,
                 responses=_responses(("Published again for this service's consumer",
                                       {"replayed": [_SUMMARY_EXAMPLE]}), replay=True))
    async def replay_dead_letter(request: Request, _principal: OpsKey, dead_letter_id: DeadLetterId) -> dict:
        _replay_needs_operator(request)
        return {"replayed": [(await one(request, dead_letter_id, "replay")).summary()]}

    @router.post("/replay", summary="Replay several dead letters, or all of this service's (ops)",
                 response_model=ReplayResult,
                 responses=_responses(("Published again for this service's consumer",
                                       {"replayed": [_SUMMARY_EXAMPLE]}), replay=True))
    async def replay_dead_letters(request: Request, _principal: OpsKey, body: Annotated[ReplayRequest, Body(
            openapi_examples={"some": {"summary": "These dead letters", "value": {"ids": [42, 43]}},
                              "all": {"summary": "Every dead letter of this service", "value": {"all": True}}})],
                                  ) -> dict:
        _replay_needs_operator(request)
        if body.all:
            try:
                replayed = await letters(request).replay_all(service=service)
            except NatsError as exc:
                raise _broker_unavailable() from exc
        else:
            replayed = [await one(request, dead_letter_id, "replay") for dead_letter_id in body.ids]
        return {"replayed": [letter.summary() for letter in replayed]}

    @router.delete("/{dead_letter_id}", summary="Drop a dead letter for good (ops)", response_model=DropResult,
                   responses=_responses(("Removed for good", {"dropped": _SUMMARY_EXAMPLE})))
    async def drop_dead_letter(request: Request, _principal: OpsKey, dead_letter_id: DeadLetterId) -> dict:
        return {"dropped": (await one(request, dead_letter_id, "drop")).summary()}

    return router
