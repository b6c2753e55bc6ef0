"""The dead letters of one service over HTTP, for ops keys: the same operations as `silkgate dlq` (shared.dlq).

Each service shows only the messages its own consumers parked; another service's dead letter is a 404 here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.auth import Principal, require_roles
from shared.dlq import DeadLetterNotFound, DeadLetters
from shared.errors import NotFound, ServiceUnavailable

OpsKey = Annotated[Principal, Depends(require_roles("ops"))]
DeadLetterId = Annotated[int, Field(ge=1, description="The dead letter's sequence number in the SILKGATE_DLQ stream")]


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
    all: bool = Field(default=False, description="Replay every dead letter of this service")

    @model_validator(mode="after")
    def _one_of(self) -> ReplayRequest:
        if bool(self.ids) == self.all:
            raise ValueError("send either `ids` or `all: true`")
        return self


class ReplayResult(BaseModel):
    replayed: list[DeadLetterSummary]


class DropResult(BaseModel):
    dropped: DeadLetterSummary


def dead_letter_router(service: str) -> APIRouter:
    router = APIRouter(prefix="/v1/ops/dead-letters", tags=["operations"])

    def letters(request: Request) -> DeadLetters:
        js = request.app.state.runtime.bus.js
        if js is None or not request.app.state.runtime.bus.connected:
            raise ServiceUnavailable("The broker is not reachable; try again shortly", code="broker_unavailable",
                                     headers={"Retry-After": "5"})
        return DeadLetters(js)

    async def one(request: Request, dead_letter_id: int, action: str) -> Any:
        try:
            return await getattr(letters(request), action)(dead_letter_id, service=service)
        except DeadLetterNotFound as exc:
            raise NotFound(f"No dead letter {dead_letter_id} for {service}", code="dead_letter_not_found",
                           field="dead_letter_id") from exc

    @router.get("", summary="This service's dead letters, oldest first (ops)", response_model=DeadLetterPage)
    async def list_dead_letters(request: Request, _principal: OpsKey,
                                limit: Annotated[int, Query(ge=1, le=500)] = 50,
                                after: Annotated[int, Query(ge=0)] = 0) -> dict:
        store = letters(request)
        found = await store.list(service=service, limit=limit + 1, after=after)
        page = found[:limit]
        return {"data": [letter.summary() for letter in page], "total": await store.count(service),
                "next_after": page[-1].id if len(found) > limit else None}

    @router.get("/{dead_letter_id}", summary="One dead letter with its original event (ops)",
                response_model=DeadLetterDetail)
    async def show_dead_letter(request: Request, _principal: OpsKey, dead_letter_id: DeadLetterId) -> dict:
        return (await one(request, dead_letter_id, "get")).detail()

    @router.post("/{dead_letter_id}/replay", summary="Hand one dead letter to this service's consumer again (ops)",
                 response_model=ReplayResult)
    async def replay_dead_letter(request: Request, _principal: OpsKey, dead_letter_id: DeadLetterId) -> dict:
        return {"replayed": [(await one(request, dead_letter_id, "replay")).summary()]}

    @router.post("/replay", summary="Replay several dead letters, or all of this service's (ops)",
                 response_model=ReplayResult)
    async def replay_dead_letters(request: Request, _principal: OpsKey, body: ReplayRequest) -> dict:
        if body.all:
            replayed = await letters(request).replay_all(service=service)
        else:
            replayed = [await one(request, dead_letter_id, "replay") for dead_letter_id in body.ids]
        return {"replayed": [letter.summary() for letter in replayed]}

    @router.delete("/{dead_letter_id}", summary="Drop a dead letter for good (ops)", response_model=DropResult)
    async def drop_dead_letter(request: Request, _principal: OpsKey, dead_letter_id: DeadLetterId) -> dict:
        return {"dropped": (await one(request, dead_letter_id, "drop")).summary()}

    return router
