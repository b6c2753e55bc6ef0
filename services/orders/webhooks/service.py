"""Webhook use cases: registering endpoints, reading the delivery log, replaying, and queueing deliveries in the
transaction of an order's status change. Nothing here commits: the request or the consumer's batch does."""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.orders.domain.progress import OrderProgress
from services.orders.models import Order
from services.orders.settings import OrdersSettings
from services.orders.webhooks import repository, rules, signing, urls
from services.orders.webhooks.encryption import secret_box
from services.orders.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from services.orders.webhooks.schemas import (
    DeliveryDetail,
    DeliveryOut,
    EndpointCreate,
    EndpointOut,
    EndpointUpdate,
    WebhookPayload,
)
from shared.auth import Principal
from shared.db import utcnow
from shared.errors import Conflict, InvalidInput, NotFound, invalid_input_from

log = structlog.get_logger()

DISABLED_BY_MERCHANT = "disabled by the merchant"


def new_id(prefix: str) -> str:
    """The prefix and 24 random hex digits (as uuid4().hex[:24] was, at a third of its cost: two per webhook)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def address_policy(settings: OrdersSettings) -> urls.AddressPolicy:
    return urls.AddressPolicy(allow_loopback=settings.webhook_allow_loopback,
                              allow_private_networks=settings.webhook_allow_private_networks,
                              allowed_ports=tuple(settings.webhook_allowed_ports))


# ── views ─────────────────────────────────────────────────────────────────────


def endpoint_view(endpoint: WebhookEndpoint) -> dict[str, Any]:
    fields = {name: getattr(endpoint, name) for name in EndpointOut.model_fields}
    return EndpointOut.model_validate(fields).model_dump(mode="json")


def _attempt_fields(attempt: WebhookAttempt) -> dict[str, Any]:
    return {"attempt": attempt.attempt, "attempted_at": attempt.attempted_at, "duration_ms": attempt.duration_ms,
            "status_code": attempt.status_code, "error": attempt.error, "response_body": attempt.response_body}


def _delivery_fields(delivery: WebhookDelivery, attempts: list[WebhookAttempt]) -> dict[str, Any]:
    fields = {name: getattr(delivery, name) for name in DeliveryOut.model_fields if name != "attempts"}
    return {**fields, "attempts": [_attempt_fields(a) for a in attempts]}


def delivery_view(delivery: WebhookDelivery, attempts: list[WebhookAttempt]) -> dict[str, Any]:
    return DeliveryOut.model_validate(_delivery_fields(delivery, attempts)).model_dump(mode="json")


# ── validation (before the transaction: resolving a host is I/O) ──────────────


async def validate_endpoint(settings: OrdersSettings, *, url: str | None,
                            event_types: list[str] | None) -> list[str] | None:
    """422 naming every field at fault (url, event_types[i]); returns the subscription as stored."""
    errors: list[dict[str, Any]] = []
    normalized = None
    if event_types is not None:
        normalized, unknown = rules.normalize_event_types(event_types)
        errors += [{"field": f"event_types[{index}]", "code": "event_type_unknown",
                    "message": f"unknown event type {name!r}; one of {', '.join(rules.EVENT_TYPES)} or \"*\""}
                   for index, name in unknown]
    if url is not None:
        try:
            async with asyncio.timeout(settings.webhook_timeout_s):
                await urls.validate_url(url, address_policy(settings))
        except urls.UrlRefused as exc:
            errors.insert(0, {"field": "url", "code": exc.code, "message": exc.message})
        except TimeoutError:
            errors.insert(0, {"field": "url", "code": "url_host_unresolvable",
                              "message": "resolving the URL's host timed out"})
    if errors:
        raise invalid_input_from(errors)
    return normalized


# ── endpoints ─────────────────────────────────────────────────────────────────


async def visible_endpoint(session: AsyncSession, principal: Principal, endpoint_id: str, *,
                           for_update: bool = False) -> WebhookEndpoint:
    """The merchant's endpoint; another merchant's is as unknown as a missing one (404)."""
    endpoint = await repository.get_endpoint(session, endpoint_id, merchant_code=principal.owner,
                                             for_update=for_update)
    if endpoint is None:
        raise NotFound(f"No webhook endpoint {endpoint_id}", code="webhook_endpoint_not_found")
    return endpoint


async def create_endpoint(session: AsyncSession, settings: OrdersSettings, *, principal: Principal,
                          body: EndpointCreate, event_types: list[str]) -> dict[str, Any]:
    """Register an endpoint (URL and event types validated already); the answer carries its secret, once."""
    merchant = principal.owner
    limit = settings.webhook_max_endpoints_per_merchant
    if await repository.count_endpoints(session, merchant) >= limit:
        raise Conflict(f"A merchant has at most {limit} webhook endpoints; delete one first",
                       code="webhook_endpoint_limit")
    now = utcnow()
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        id=new_id("we"), merchant_code=merchant, url=body.url, description=body.description,
        event_types=event_types, secret=secret_box(settings).seal(secret), enabled=body.enabled,
        disabled_reason=None if body.enabled else DISABLED_BY_MERCHANT, disabled_at=None if body.enabled else now,
        failing_since=None, created_at=now, updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    log.info("webhook_endpoint.created", endpoint_id=endpoint.id, merchant_code=merchant, event_types=event_types,
             enabled=endpoint.enabled)
    return {**endpoint_view(endpoint), "secret": secret}


async def rotate_secret(session: AsyncSession, settings: OrdersSettings, *, principal: Principal, endpoint_id: str,
                        expires_in_s: int) -> dict[str, Any]:
    """A new signing secret (answered once); the current one keeps signing beside it for `expires_in_s` seconds."""
    endpoint = await visible_endpoint(session, principal, endpoint_id, for_update=True)
    box = secret_box(settings)
    now = utcnow()
    overlap = min(float(expires_in_s), settings.webhook_secret_overlap_max_s)
    secret = signing.new_secret()
    endpoint.previous_secret = endpoint.secret if overlap > 0 else None
    endpoint.previous_secret_expires_at = now + timedelta(seconds=overlap) if overlap > 0 else None
    endpoint.secret = box.seal(secret)
    endpoint.updated_at = now
    await session.flush()
    log.info("webhook_endpoint.secret_rotated", endpoint_id=endpoint.id, merchant_code=endpoint.merchant_code,
             overlap_s=overlap)
    return {**endpoint_view(endpoint), "secret": secret}


async def reencrypt_secrets(session: AsyncSession, settings: OrdersSettings) -> int:
    """Encrypt every stored secret again under the first configured key (after adding a new key); returns how many
    endpoints were rewritten. Run before dropping an old key."""
    box = secret_box(settings)
    rows = await repository.sealed_secrets(session)
    for row in rows:
        await repository.set_sealed_secrets(
            session, row.id, secret=box.rotate(row.secret),
            previous_secret=box.rotate(row.previous_secret) if row.previous_secret else None)
    log.info("webhook.secrets_reencrypted", endpoints=len(rows))
    return len(rows)


async def list_endpoints(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    return {"data": [endpoint_view(e) for e in await repository.list_endpoints(session, principal.owner)]}


async def get_endpoint(session: AsyncSession, principal: Principal, endpoint_id: str) -> dict[str, Any]:
    return endpoint_view(await visible_endpoint(session, principal, endpoint_id))


async def update_endpoint(session: AsyncSession, *, principal: Principal, endpoint_id: str, body: EndpointUpdate,
                          event_types: list[str] | None) -> dict[str, Any]:
    """Change URL, event types, description; enable (sends what waited, with a fresh retry window) or disable."""
    endpoint = await visible_endpoint(session, principal, endpoint_id, for_update=True)
    now = utcnow()
    if body.url is not None:
        endpoint.url = body.url
    if event_types is not None:
        endpoint.event_types = event_types
    if body.description is not None:
        endpoint.description = body.description
    if body.enabled is True and not endpoint.enabled:
        endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = True, None, None
        endpoint.failing_since = None
        waiting = await repository.wake_pending(session, endpoint.id, now)
        log.info("webhook_endpoint.enabled", endpoint_id=endpoint.id, merchant_code=endpoint.merchant_code,
                 waiting_deliveries=waiting)
    elif body.enabled is False and endpoint.enabled:
        endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = False, DISABLED_BY_MERCHANT, now
        parked = await repository.park_pending(session, endpoint.id)
        log.info("webhook_endpoint.disabled", endpoint_id=endpoint.id, merchant_code=endpoint.merchant_code,
                 reason=DISABLED_BY_MERCHANT, waiting_deliveries=parked)
    endpoint.updated_at = now
    await session.flush()
    log.info("webhook_endpoint.updated", endpoint_id=endpoint.id, fields=sorted(body.model_fields_set))
    return endpoint_view(endpoint)


async def delete_endpoint(session: AsyncSession, *, principal: Principal, endpoint_id: str) -> None:
    """Delete an endpoint with its delivery log; nothing more is sent to it (a POST in flight finishes)."""
    endpoint = await visible_endpoint(session, principal, endpoint_id, for_update=True)
    await repository.delete_endpoint(session, endpoint.id)
    log.info("webhook_endpoint.deleted", endpoint_id=endpoint.id, merchant_code=endpoint.merchant_code)


# ── delivery log and replay ───────────────────────────────────────────────────


async def list_deliveries(session: AsyncSession, *, principal: Principal, endpoint_id: str, status: str | None,
                          starting_after: str | None, limit: int) -> dict[str, Any]:
    """An endpoint's deliveries newest first, each with its attempts; cursor pagination."""
    endpoint = await visible_endpoint(session, principal, endpoint_id)
    after = None
    if starting_after is not None:
        after = await repository.get_delivery(session, endpoint.id, starting_after)
        if after is None:
            raise InvalidInput(f"starting_after {starting_after} is not a delivery of this endpoint",
                               code="cursor_invalid", field="starting_after")
    rows = await repository.list_deliveries(session, endpoint.id, status=status, after=after, limit=limit + 1)
    has_more = len(rows) > limit
    rows = rows[:limit]
    attempts = await repository.attempts_of(session, [d.id for d in rows])
    return {"data": [delivery_view(d, attempts[d.id]) for d in rows], "has_more": has_more,
            "next_cursor": rows[-1].id if has_more else None}


async def _visible_delivery(session: AsyncSession, principal: Principal, endpoint_id: str,
                            delivery_id: str) -> tuple[WebhookEndpoint, WebhookDelivery]:
    endpoint = await visible_endpoint(session, principal, endpoint_id)
    delivery = await repository.get_delivery(session, endpoint.id, delivery_id)
    if delivery is None:
        raise NotFound(f"No delivery {delivery_id} for endpoint {endpoint_id}", code="webhook_delivery_not_found")
    return endpoint, delivery


async def get_delivery(session: AsyncSession, *, principal: Principal, endpoint_id: str,
                       delivery_id: str) -> dict[str, Any]:
    """One delivery with its attempts and the body sent."""
    _, delivery = await _visible_delivery(session, principal, endpoint_id, delivery_id)
    attempts = await repository.attempts_of(session, [delivery.id])
    event = await repository.get_event(session, delivery.event_id)
    fields = {**_delivery_fields(delivery, attempts[delivery.id]),
              "payload": json.loads(event.payload) if event is not None else {}}
    return DeliveryDetail.model_validate(fields).model_dump(mode="json")


def _require_enabled(endpoint: WebhookEndpoint) -> None:
    if not endpoint.enabled:
        raise Conflict(f"Webhook endpoint {endpoint.id} is disabled ({endpoint.disabled_reason}); enable it first: "
                       "what waited is sent then", code="webhook_endpoint_disabled")


async def replay_delivery(session: AsyncSession, *, principal: Principal, endpoint_id: str,
                          delivery_id: str) -> dict[str, Any]:
    """Send one delivery again now (whatever its status), same event id, with a fresh retry window."""
    endpoint, delivery = await _visible_delivery(session, principal, endpoint_id, delivery_id)
    _require_enabled(endpoint)
    await repository.requeue_delivery(session, delivery.id, utcnow())
    await session.refresh(delivery)
    log.info("webhook.replay_requested", endpoint_id=endpoint.id, delivery_id=delivery.id, event_id=delivery.event_id,
             order_id=delivery.order_id)
    attempts = await repository.attempts_of(session, [delivery.id])
    return delivery_view(delivery, attempts[delivery.id])


async def replay_since(session: AsyncSession, *, principal: Principal, endpoint_id: str, since: datetime,
                       status: str) -> dict[str, Any]:
    """Requeue every delivery of the endpoint in `status` created at or after `since`."""
    endpoint = await visible_endpoint(session, principal, endpoint_id)
    _require_enabled(endpoint)
    count = await repository.requeue_since(session, endpoint.id, status=status, since=since, now=utcnow())
    log.info("webhook.replay_requested", endpoint_id=endpoint.id, status=status, since=since.isoformat(), count=count)
    return {"replayed": count}


# ── queueing: in the transaction of the status change ─────────────────────────


def event_payload(*, event_id: str, event_type: str, created: datetime, order: Order | OrderProgress,
                  previous_status: str | None) -> str:
    """The JSON body merchants receive, as the exact text every attempt sends."""
    order_fields = {"id": order.id, "merchant_order_no": order.merchant_order_no, "status": order.status,
                    "channel": order.channel, "tracking_number": order.tracking_number,
                    "customs_status": order.customs_status, "status_reason": order.status_reason,
                    "updated_at": order.updated_at}
    payload = WebhookPayload.model_validate({"id": event_id, "type": event_type, "created": created,
                                             "data": {"order": order_fields, "previous_status": previous_status}})
    return payload.model_dump_json()


@dataclass
class QueuedWebhooks:
    """Webhook events and their deliveries, built but not yet written."""

    events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def extend(self, other: QueuedWebhooks) -> None:
        self.events += other.events
        self.deliveries += other.deliveries


# (order, webhook event type, previous status)
Change = tuple[Order | OrderProgress, str, str | None]


async def enqueue(session: AsyncSession, changes: list[Change]) -> int:
    """Queue one delivery per (order, webhook event type, previous status) for every enabled endpoint of the order's
    merchant that subscribes to the type; returns how many. The rows commit with the change or not at all."""
    if not changes:
        return 0
    subscriptions = await session.run_sync(subscriptions_of, {order.merchant_code for order, _, _ in changes})
    queued = build_webhooks(subscriptions, changes)
    await repository.insert_events(session, queued.events)
    await repository.insert_deliveries(session, queued.deliveries)
    return len(queued.deliveries)


def build_webhooks(subscriptions: dict[str, list[Any]], changes: list[Change], *,
                   now: datetime | None = None) -> QueuedWebhooks:
    """The webhook events and deliveries of these changes for the endpoints in `subscriptions` (subscriptions_of),
    created `now` (default: the present).

    Each payload is the order as it is now: build them when the change happens, write them in its transaction."""
    queued = QueuedWebhooks()
    now = now or utcnow()
    for order, event_type, previous_status in changes:
        targets = [e for e in subscriptions[order.merchant_code] if rules.subscribes(e.event_types, event_type)]
        if not targets:
            continue
        event_id = new_id("evt")
        queued.events.append({"id": event_id, "merchant_code": order.merchant_code, "event_type": event_type,
                              "order_id": order.id, "created_at": now,
                              "payload": event_payload(event_id=event_id, event_type=event_type, created=now,
                                                       order=order, previous_status=previous_status)})
        queued.deliveries += [{"id": new_id("whd"), "endpoint_id": endpoint.id, "event_id": event_id,
                               "event_type": event_type, "order_id": order.id, "status": repository.PENDING,
                               "attempt_count": 0, "next_attempt_at": now, "locked_until": None, "lease_token": None,
                               "queued_at": now, "created_at": now} for endpoint in targets]
        log.info("webhook.queued", order_id=order.id, event_id=event_id, event_type=event_type,
                 endpoints=len(targets))
    return queued


_SUBSCRIPTIONS = "orders.webhooks.subscriptions"


def subscriptions_of(session: Session, merchant_codes: set[str]) -> dict[str, list[Any]]:
    """Enabled endpoints per merchant, read once per merchant per transaction (kept in `session.info`); sync, so
    that a consumer batch can queue its webhooks as it commits (recording.BatchRecorder).

    A consumer batch records hundreds of status changes of a few merchants, most of which have no endpoint: one
    query per merchant and batch keeps that case nearly free. An endpoint registered meanwhile is heard of from
    the next transaction on, as if the batch had been handled a moment earlier.
    """
    transaction = session.get_transaction()
    cached = session.info.get(_SUBSCRIPTIONS)
    if cached is None or cached[0] is not transaction:
        cached = session.info[_SUBSCRIPTIONS] = (transaction, {})
    known: dict[str, list[Any]] = cached[1]
    missing = merchant_codes - known.keys()
    if missing:
        for code in missing:
            known[code] = []
        for endpoint in repository.enabled_endpoints(session, missing):
            known[endpoint.merchant_code].append(endpoint)
    return known
