"""The sandbox carrier's work: take a manifest once, plan realistic tracking events, post them to postal.

Everything is in the database (the plan and how far it got), so a restarted sandbox resumes where it stopped;
postal dedupes events, so an event posted twice around a crash does no harm.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy.exc import IntegrityError

from services.carrier import repository
from services.carrier.settings import CarrierSettings
from shared.db import Database, utcnow

log = structlog.get_logger()

S10_SHAPE = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}")

# (code, description, where) per step: mail follows the UPU EMSEVT journey, couriers their own codes.
MAIL_JOURNEY = [
    ("EMC", "Left outward office of exchange", "origin"),
    ("EMD", "Arrived at inward office of exchange", "destination"),
    ("EDB", "Presented to import customs", "destination"),
    ("EMF", "Left inward office of exchange", "destination"),
    ("EDG", "Out for delivery", "city"),
    ("EMI", "Delivered", "city"),
]
EXPRESS_JOURNEY = [
    ("PU", "Picked up", "origin"),
    ("IT", "In transit", "destination"),
    ("CC", "Customs clearance", "destination"),
    ("OD", "Out for delivery", "city"),
    ("DL", "Delivered", "city"),
]


@dataclass(frozen=True, slots=True)
class Receipt:
    body: dict[str, Any]
    duplicate: bool


def receipt_of(manifest: Mapping[str, Any], *, duplicate: bool, planned: int | None = None) -> Receipt:
    """The receipt of a stored manifest (a row's mapping or the values just inserted)."""
    body = {"receipt_id": manifest["receipt_id"], "dispatch_id": manifest["dispatch_id"],
            "carrier": manifest["carrier"], "items": manifest["item_count"],
            "received_at": manifest["received_at"].isoformat(), "duplicate": duplicate}
    if planned is not None:
        body["events_planned"] = planned
    return Receipt(body, duplicate)


def journey(tracking_number: str) -> list[tuple[str, str, str]]:
    """The steps a parcel goes through: EMSEVT for S10 (mail) items, courier codes otherwise."""
    return MAIL_JOURNEY if S10_SHAPE.fullmatch(tracking_number) else EXPRESS_JOURNEY


def plan(manifest: dict[str, Any], *, dispatch_id: str, received_at: datetime, step_s: float) -> list[dict[str, Any]]:
    """One planned event per step per item, the k-th due k steps after the manifest arrived."""
    header = manifest.get("dispatch", {})
    places = {"origin": str(header.get("origin_office", "")), "destination": str(header.get("destination_office", ""))}
    rows = []
    for item in manifest.get("items", []):
        number = str(item["tracking_number"])
        city = str((item.get("addressee") or {}).get("city") or places["destination"])
        for step, (code, description, where) in enumerate(journey(number), start=1):
            due = received_at + timedelta(seconds=step * step_s)
            rows.append({"dispatch_id": dispatch_id, "tracking_number": number, "code": code,
                         "location": (city if where == "city" else places[where])[:128], "description": description,
                         "due_at": due, "next_try_at": due, "attempts": 0, "state": "planned"})
    return rows


async def accept_manifest(db: Database, settings: CarrierSettings, manifest: dict[str, Any], *,
                          idempotency_key: str | None) -> Receipt:
    """Store a manifest once (by dispatch id or idempotency key) and plan its events; a repeat gets the receipt."""
    dispatch_id = manifest["dispatch"]["dispatch_id"]
    for _attempt in range(2):
        try:
            async with db.transaction() as session:
                existing = await repository.find_manifest(session, dispatch_id=dispatch_id,
                                                          idempotency_key=idempotency_key)
                if existing is not None:
                    log.info("manifest.duplicate", dispatch_id=dispatch_id, receipt_id=existing.receipt_id)
                    return receipt_of(existing._mapping, duplicate=True)
                now = utcnow()
                values = {"dispatch_id": dispatch_id, "idempotency_key": idempotency_key,
                          "receipt_id": f"rcv_{uuid.uuid4().hex[:24]}",
                          "carrier": str(manifest["dispatch"].get("carrier", "")), "item_count": len(manifest["items"]),
                          "received_at": now, "manifest": manifest}
                await repository.add_manifest(session, values)
                rows = plan(manifest, dispatch_id=dispatch_id, received_at=now, step_s=settings.step_interval_s)
                await repository.add_planned_events(session, rows)
        except IntegrityError:
            continue  # a concurrent post of the same dispatch won: answer with its receipt
        log.info("manifest.received", dispatch_id=dispatch_id, carrier=values["carrier"], items=values["item_count"],
                 events_planned=len(rows))
        return receipt_of(values, duplicate=False, planned=len(rows))
    raise RuntimeError("manifest could be neither stored nor found")


async def post_due_events(db: Database, settings: CarrierSettings, client: httpx.AsyncClient) -> int:
    """Post the events that are due to postal in one batch; returns how many were settled."""
    now = utcnow()
    async with db.reader() as session:
        due = await repository.due_events(session, now=now, limit=settings.post_batch_size)
    if not due:
        return 0
    body = {"events": [{"tracking_number": e.tracking_number, "code": e.code, "occurred_at": e.due_at.isoformat(),
                        "location": e.location, "description": e.description} for e in due]}
    try:
        response = await client.post("/v1/tracking-events", json=body,
                                     headers={"Authorization": f"Bearer {settings.api_key}"})
    except httpx.HTTPError as exc:
        await _postpone_all(db, settings, due, f"{type(exc).__name__}: {exc}")
        return 0
    if response.status_code != 200:
        await _postpone_all(db, settings, due, f"postal answered {response.status_code}: {response.text[:300]}")
        return 0
    results = response.json()["results"]
    settled = 0
    async with db.transaction() as session:
        for event, result in zip(due, results, strict=True):
            settled += await _settle(session, settings, event, result, now=utcnow())
    return settled


async def _settle(session: Any, settings: CarrierSettings, event: Any, result: dict[str, Any], *, now: datetime) -> int:
    ids = {"tracking_number": event.tracking_number, "code": event.code, "dispatch_id": event.dispatch_id}
    if result["result"] in ("accepted", "duplicate"):
        await repository.settle(session, event.id, state=result["result"], now=now)
        log.info("tracking.posted", **ids, result=result["result"])
        return 1
    problem = result.get("problem") or {}
    error = f"{problem.get('status')} {problem.get('code')}: {problem.get('detail')}"
    # 404/403: postal may not have recorded the handoff yet; anything else will not get better by waiting.
    if problem.get("status") in (403, 404) and event.attempts + 1 < settings.max_rejected_attempts:
        await repository.postpone(session, event.id, until=now + timedelta(seconds=_backoff(settings, event.attempts)),
                                  error=error)
        return 0
    await repository.settle(session, event.id, state="given_up", now=now, error=error)
    log.warning("tracking.given_up", **ids, error=error)
    return 1


async def _postpone_all(db: Database, settings: CarrierSettings, due: list[Any], error: str) -> None:
    log.warning("tracking.post_failed", events=len(due), error=error[:300])
    async with db.transaction() as session:
        now = utcnow()
        for event in due:
            until = now + timedelta(seconds=_backoff(settings, event.attempts))
            await repository.postpone(session, event.id, until=until, error=error)


def _backoff(settings: CarrierSettings, attempts: int) -> float:
    return settings.retry_backoff_s[min(attempts, len(settings.retry_backoff_s) - 1)]
