"""The webhook sender: a worker that POSTs due deliveries, signed, and records every attempt.

- Apart from the order pipeline: its own tables and its own task; the consumers only insert delivery rows.
- Concurrent: up to `webhook_max_in_flight` POSTs per process, at most `webhook_max_in_flight_per_endpoint` to one
  endpoint, so a slow or dead endpoint holds a few slots while other merchants' deliveries go past it.
- Safe with replicas: a due delivery is leased (`locked_until`, `lease_token`) by one conditional UPDATE before it is
  sent, and its outcome is written only under that lease. A success is written the moment the answer arrives, so a
  restart never sends it again; a sender killed mid-POST leaves a lease that expires, and the delivery is sent again
  (at least once: receivers dedupe on Silkgate-Event-Id).
- Bounded: DNS, connect, send and answer together take at most `webhook_timeout_s`; the host is resolved and checked
  again at each send and the request goes to the checked address (DNS rebinding); redirects are not followed.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import structlog
from prometheus_client import Counter

from services.orders.settings import OrdersSettings
from services.orders.webhooks import repository, rules, signing, urls
from services.orders.webhooks.encryption import SecretBox, secret_box
from services.orders.webhooks.repository import ClaimedDelivery
from services.orders.webhooks.service import address_policy
from shared.db import utcnow
from shared.logging import safe_error
from shared.runtime import ServiceRuntime

log = structlog.get_logger()

USER_AGENT = "silkgate-webhooks/1.0"
RESPONSE_EXCERPT_CHARS = 1000
HOUSEKEEPING_INTERVAL_S = 600.0
ATTEMPTS = Counter("silkgate_orders_webhook_attempts", "Webhook POSTs by outcome", ["outcome"])


@dataclass(frozen=True)
class Outcome:
    """What one POST came to: a status code, or an error (timeout, connection refused, refused address)."""

    status_code: int | None
    error: str | None
    duration_ms: int
    response_body: str | None = None

    @property
    def succeeded(self) -> bool:
        return rules.is_success(self.status_code)

    def describe(self) -> str:
        return f"HTTP {self.status_code}" if self.status_code is not None else (self.error or "no answer")


def request_headers(*, event_id: str, event_type: str, signature: str, host: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Host": host,
            signing.SIGNATURE_HEADER: signature, "Silkgate-Event-Id": event_id, "Silkgate-Event-Type": event_type}


def signing_secrets(delivery: ClaimedDelivery, box: SecretBox, now: datetime) -> tuple[str, str | None]:
    """The endpoint's secret in clear, and its previous one while a rotation's overlap lasts."""
    previous = None
    if delivery.previous_secret and delivery.previous_secret_expires_at and delivery.previous_secret_expires_at > now:
        previous = box.open(delivery.previous_secret)
    return box.open(delivery.secret), previous


async def post(client: httpx.AsyncClient, delivery: ClaimedDelivery, *, timeout_s: float,
               policy: urls.AddressPolicy, box: SecretBox, resolver: Executor | None = None) -> Outcome:
    """POST one delivery to its endpoint, signed now; never raises for the endpoint's faults."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        async with asyncio.timeout(timeout_s):
            endpoint = urls.parse_url(delivery.url)
            address = (await urls.resolve(endpoint, policy, executor=resolver))[0]
            body = delivery.payload.encode()
            secret, previous = signing_secrets(delivery, box, utcnow())
            signature = signing.signature_header(secret, int(time.time()), body, previous=previous)
            extensions = {"sni_hostname": endpoint.host} if endpoint.scheme == "https" else {}
            request = client.build_request(
                "POST", endpoint.pinned_to(address), content=body, extensions=extensions,
                headers=request_headers(event_id=delivery.event_id, event_type=delivery.event_type,
                                        signature=signature, host=endpoint.host_header))
            response = await client.send(request, stream=True)
            try:
                excerpt = await _excerpt(response)
            finally:
                await response.aclose()
            return Outcome(status_code=response.status_code, error=None, duration_ms=elapsed(), response_body=excerpt)
    except TimeoutError:
        return Outcome(None, f"timeout: no answer within {timeout_s:g} s", elapsed())
    except urls.UrlRefused as exc:
        return Outcome(None, f"{exc.code}: {exc.message}", elapsed())
    except httpx.HTTPError as exc:
        return Outcome(None, f"{_error_kind(exc)}: {exc}" if str(exc) else _error_kind(exc), elapsed())
    except OSError as exc:
        return Outcome(None, f"connection error: {exc}", elapsed())
    except Exception as exc:  # noqa: BLE001 - whatever the endpoint did, the attempt is logged and retried
        log.warning("webhook.send_error", error=safe_error(exc))
        return Outcome(None, f"error: {safe_error(exc)}", elapsed())


async def _excerpt(response: httpx.Response) -> str | None:
    """The start of the answer, for the delivery log; the rest is not read."""
    chunks = bytearray()
    async for chunk in response.aiter_bytes():
        chunks += chunk
        if len(chunks) >= RESPONSE_EXCERPT_CHARS * 4:
            break
    return chunks.decode("utf-8", "replace")[:RESPONSE_EXCERPT_CHARS] if chunks else None


def _error_kind(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connection error"
    return type(exc).__name__


class WebhookSender:
    """Claims due deliveries and sends them concurrently within the global and per-endpoint caps."""

    def __init__(self, runtime: ServiceRuntime, settings: OrdersSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.policy = address_policy(settings)
        self.box = secret_box(settings)
        self.in_flight: dict[str, set[asyncio.Task]] = {}  # endpoint id → its sends
        self._slot_freed = asyncio.Event()
        self._leases: dict[str, str] = {}  # delivery id → lease token, while in flight
        # Our own resolver threads, one per possible send: a host whose DNS hangs holds only its endpoint's share
        # (a timed-out lookup keeps its thread until the resolver gives up) and never the loop's default pool.
        self.resolver = ThreadPoolExecutor(max_workers=settings.webhook_max_in_flight,
                                           thread_name_prefix="webhook-dns")

    @property
    def in_flight_count(self) -> int:
        return sum(len(tasks) for tasks in self.in_flight.values())

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop`; then let sends in flight finish briefly and give the rest back."""
        s = self.settings
        log.info("webhook.sender_started", max_in_flight=s.webhook_max_in_flight,
                 per_endpoint=s.webhook_max_in_flight_per_endpoint)
        # No keep-alive: each POST connects to the address checked for it (connections are never shared between
        # hosts behind one address), and a dead endpoint holds no pooled connection.
        limits = httpx.Limits(max_connections=s.webhook_max_in_flight, max_keepalive_connections=0)
        try:
            async with httpx.AsyncClient(timeout=s.webhook_timeout_s, limits=limits, follow_redirects=False,
                                         trust_env=False) as client:
                await self._loop(client, stop)
                await self._shutdown()
        finally:
            self.resolver.shutdown(wait=False, cancel_futures=True)

    async def _loop(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        s = self.settings
        last_housekeeping = 0.0
        while not stop.is_set():
            claimed = 0
            try:
                claimed = await self.dispatch(client)
                if time.monotonic() - last_housekeeping > HOUSEKEEPING_INTERVAL_S:
                    last_housekeeping = time.monotonic()
                    await self.housekeeping()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the sender must outlive database hiccups
                log.warning("webhook.sender_error", error=safe_error(exc))
                await _wait_any(stop, None, 1.0)
                continue
            if claimed == 0 or self.in_flight_count >= s.webhook_max_in_flight:
                self._slot_freed.clear()
                await _wait_any(stop, self._slot_freed, s.webhook_poll_interval_s)

    async def dispatch(self, client: httpx.AsyncClient) -> int:
        """Claim what is due within the free slots and start sending it; returns how many were claimed."""
        s = self.settings
        free = s.webhook_max_in_flight - self.in_flight_count
        if free <= 0:
            return 0
        cap = s.webhook_max_in_flight_per_endpoint
        busy = [endpoint for endpoint, tasks in self.in_flight.items() if len(tasks) >= cap]
        now = utcnow()
        async with self.runtime.db.reader() as session:
            candidates = await repository.due_deliveries(session, now=now, busy_endpoints=busy, per_endpoint=cap,
                                                         limit=free)
        chosen: list[str] = []
        taken: dict[str, int] = {}
        for delivery_id, endpoint_id in candidates:
            running = len(self.in_flight.get(endpoint_id, ())) + taken.get(endpoint_id, 0)
            if running < cap:
                chosen.append(delivery_id)
                taken[endpoint_id] = taken.get(endpoint_id, 0) + 1
        if not chosen:
            return 0
        token = uuid.uuid4().hex
        lease_until = now + timedelta(seconds=2 * s.webhook_timeout_s + 30)
        async with self.runtime.db.transaction() as session:
            await repository.claim(session, chosen, now=now, lease_until=lease_until, token=token)
            deliveries = await repository.claimed_deliveries(session, token)
        for delivery in deliveries:
            self._start(client, delivery)
        return len(deliveries)

    def _start(self, client: httpx.AsyncClient, delivery: ClaimedDelivery) -> None:
        task = asyncio.create_task(self._deliver(client, delivery), name=f"webhook-{delivery.id}")
        tasks = self.in_flight.setdefault(delivery.endpoint_id, set())
        tasks.add(task)
        self._leases[delivery.id] = delivery.lease_token

        def done(_: asyncio.Task) -> None:
            tasks.discard(task)
            if not tasks:
                self.in_flight.pop(delivery.endpoint_id, None)
            self._leases.pop(delivery.id, None)
            self._slot_freed.set()

        task.add_done_callback(done)

    async def _deliver(self, client: httpx.AsyncClient, delivery: ClaimedDelivery) -> None:
        with structlog.contextvars.bound_contextvars(delivery_id=delivery.id, event_id=delivery.event_id,
                                                     endpoint_id=delivery.endpoint_id, order_id=delivery.order_id):
            attempted_at = utcnow()
            outcome = await post(client, delivery, timeout_s=self.settings.webhook_timeout_s, policy=self.policy,
                                 box=self.box, resolver=self.resolver)
            ATTEMPTS.labels("succeeded" if outcome.succeeded else "failed").inc()
            try:
                await self.record(delivery, attempted_at, outcome)
            except Exception as exc:  # noqa: BLE001 - the lease expires and the delivery is sent again
                log.warning("webhook.record_failed", error=safe_error(exc))

    async def record(self, delivery: ClaimedDelivery, attempted_at, outcome: Outcome) -> None:
        """Write the attempt and its consequences (delivery status, schedule, endpoint health) in one transaction."""
        s = self.settings
        now = utcnow()
        attempt = delivery.attempt_count + 1
        async with self.runtime.db.transaction() as session:
            if outcome.succeeded:
                values = {"status": repository.SUCCEEDED, "next_attempt_at": None, "succeeded_at": now}
            else:
                retry_at = rules.next_attempt_at(
                    now=now, queued_at=delivery.queued_at, attempt=attempt, base_s=s.webhook_retry_base_s,
                    cap_s=s.webhook_retry_max_s, jitter=s.webhook_retry_jitter, max_age_s=s.webhook_max_age_s,
                    rand=random.random())
                values = {"status": repository.PENDING if retry_at else repository.FAILED, "next_attempt_at": retry_at}
            held = await repository.finish_attempt(
                session, delivery.id, delivery.lease_token, last_attempt_at=attempted_at,
                last_status_code=outcome.status_code, last_error=outcome.error, **values)
            if not held:
                # Deleted with its endpoint meanwhile, or our lease ran out and another sender has it.
                log.warning("webhook.lease_lost", status_code=outcome.status_code)
                return
            await repository.insert_attempt(session, {
                "delivery_id": delivery.id, "attempt": attempt, "attempted_at": attempted_at,
                "duration_ms": outcome.duration_ms, "status_code": outcome.status_code, "error": outcome.error,
                "response_body": outcome.response_body})
            if outcome.succeeded:
                await repository.endpoint_succeeded(session, delivery.endpoint_id)
                log.info("webhook.delivered", attempt=attempt, status_code=outcome.status_code,
                         duration_ms=outcome.duration_ms)
                return
            log.info("webhook.attempt_failed", attempt=attempt, status_code=outcome.status_code, error=outcome.error,
                     next_attempt_at=values["next_attempt_at"].isoformat() if values["next_attempt_at"] else None)
            if values["status"] == repository.FAILED:
                log.warning("webhook.given_up", attempts=attempt, max_age_s=s.webhook_max_age_s)
            await self._endpoint_failed(session, delivery, outcome, now)

    async def _endpoint_failed(self, session, delivery: ClaimedDelivery, outcome: Outcome, now) -> None:
        """Start or continue the endpoint's failing streak; past webhook_disable_after_s, disable it and say why."""
        s = self.settings
        failing_since = await repository.endpoint_failed(session, delivery.endpoint_id, now)
        if not rules.should_disable(failing_since=failing_since, now=now, disable_after_s=s.webhook_disable_after_s):
            return
        reason = (f"every delivery failed for {_duration(s.webhook_disable_after_s)} or more "
                  f"(since {failing_since.isoformat(timespec='seconds')}); last attempt: {outcome.describe()}")
        if await repository.disable_endpoint(session, delivery.endpoint_id, reason=reason, now=now):
            parked = await repository.park_pending(session, delivery.endpoint_id)
            log.warning("webhook_endpoint.disabled", reason=reason, failing_since=failing_since.isoformat(),
                        waiting_deliveries=parked)

    async def housekeeping(self) -> None:
        cutoff = utcnow() - timedelta(seconds=self.settings.webhook_retention_s)
        async with self.runtime.db.transaction() as session:
            purged = await repository.purge_finished(session, cutoff)
        if purged:
            log.info("webhook.purged", count=purged)

    async def _shutdown(self) -> None:
        """Give sends in flight a moment, then cancel them and release their leases so the next sender has them."""
        tasks = [task for tasks in self.in_flight.values() for task in tasks]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=2.0)
        leases = dict(self._leases)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        by_token: dict[str, list[str]] = {}
        for delivery_id, token in leases.items():
            by_token.setdefault(token, []).append(delivery_id)
        try:
            async with self.runtime.db.transaction() as session:
                for token, ids in by_token.items():
                    await repository.release(session, ids, token)
        except Exception as exc:  # noqa: BLE001 - unreleased leases expire on their own
            log.warning("webhook.release_failed", error=safe_error(exc))
        log.info("webhook.sender_stopped", released=sum(len(ids) for ids in by_token.values()))


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} hour" + ("s" if hours != 1 else "")
    return f"{seconds:g} s"


async def _wait_any(stop: asyncio.Event, other: asyncio.Event | None, timeout: float) -> None:
    """Sleep until `stop`, `other` or the timeout, whichever comes first."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if other is not None:
        waiters.append(asyncio.ensure_future(other.wait()))
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def webhook_sender_worker(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """The runtime worker (runs with the relay and consumers in worker processes)."""
    await WebhookSender(runtime, runtime.settings).run(stop)
