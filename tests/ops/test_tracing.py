"""OpenTelemetry: one order's journey is one trace across the three services (in-memory exporter, the three
services in this process on the real nats-server), the trace context crossing the broker in `traceparent` headers;
and with tracing off nothing is recorded and no header is added."""

from __future__ import annotations

from contextlib import AsyncExitStack

import nats
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.customs.app import create_app as create_customs
from services.customs.models import metadata as customs_metadata
from services.customs.settings import CustomsSettings
from services.orders.app import create_app as create_orders
from services.orders.models import metadata as orders_metadata
from services.orders.settings import OrdersSettings
from services.postal.app import create_app as create_postal
from services.postal.models import metadata as postal_metadata
from services.postal.settings import PostalSettings
from shared import tracing
from tests.conftest import customs_certificate_settings
from tests.orders.domain.factories import mail_parcel
from tests.support import create_api_key, eventually, running_service

FAST = {"migrate_on_start": False, "consumer_fetch_timeout_s": 0.2, "relay_idle_interval_s": 0.02,
        "log_level": "WARNING"}


@pytest.fixture
def exporter():
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing.use_provider(provider)
    yield spans
    tracing.disable()


async def start_three(database_provider, nats_url, stack: AsyncExitStack, certificates):
    orders = await stack.enter_async_context(running_service(create_orders, OrdersSettings(
        database_url=await database_provider.url_for("orders", orders_metadata), nats_url=nats_url, **FAST)))
    await stack.enter_async_context(running_service(create_customs, CustomsSettings(
        database_url=await database_provider.url_for("customs", customs_metadata), nats_url=nats_url,
        random_inspection_rate=0, **customs_certificate_settings(certificates), **FAST)))
    await stack.enter_async_context(running_service(create_postal, PostalSettings(
        database_url=await database_provider.url_for("postal", postal_metadata), nats_url=nats_url,
        default_carrier_url="http://127.0.0.1:9/v1/manifests", **FAST)))
    return orders


async def test_one_orders_journey_is_one_trace_across_the_three_services(exporter, database_provider, nats_url,
                                                                         certificates):
    async with AsyncExitStack() as stack:
        app, client = await start_three(database_provider, nats_url, stack, certificates)
        merchant = {"Authorization": f"Bearer {await create_api_key(app, role='merchant', owner='M-KASHGAR')}"}
        body = mail_parcel()
        placed = await client.post("/v1/orders", json=body, headers={**merchant, "Idempotency-Key": "trace-1"})
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["id"]

        def journey():
            spans = exporter.get_finished_spans()
            handled = {(s.attributes.get("silkgate.service"), s.name) for s in spans if s.kind == SpanKind.CONSUMER
                       and s.attributes.get("silkgate.order_id") == order_id}
            wanted = {("customs", "process silkgate.orders.order.accepted.v1"),
                      ("postal", "process silkgate.orders.order.accepted.v1"),
                      ("orders", "process silkgate.postal.waybill.issued.v1"),
                      ("customs", "process silkgate.postal.waybill.issued.v1"),
                      ("orders", "process silkgate.customs.declaration.held.v2")}
            return spans if wanted <= handled else None

        spans = await eventually(journey, timeout=30)

    request = next(s for s in spans if s.kind == SpanKind.SERVER and s.attributes.get("http.route") == "/v1/orders")
    trace_id = request.context.trace_id
    journey_spans = [s for s in spans if s.context.trace_id == trace_id]
    assert {s.attributes.get("silkgate.service") for s in journey_spans} >= {"orders", "customs", "postal"}
    by_id = {s.context.span_id: s for s in journey_spans}
    # Every hop is a child of the one before: POST → publish order.accepted → process (postal) → publish
    # waybill.issued → process (orders, and customs, which decides once the waybill is in: this parcel's handbags
    # are priced under their reference, so it is held) → publish declaration.held → process (orders).
    for kind, name, publishes in ((SpanKind.CONSUMER, "process silkgate.customs.declaration.held.v2", 3),
                                  (SpanKind.CONSUMER, "process silkgate.postal.waybill.issued.v1", 2)):
        span = next(s for s in journey_spans if s.kind == kind and s.name == name)
        chain = [span.name]
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            chain.append(span.name)
        assert chain[-1] == request.name and "publish silkgate.orders.order.accepted.v1" in chain, chain
        assert len([n for n in chain if n.startswith("publish")]) == publishes, chain


async def test_the_trace_context_travels_in_the_nats_headers(exporter, database_provider, nats_url, certificates):
    async with AsyncExitStack() as stack:
        app, client = await start_three(database_provider, nats_url, stack, certificates)
        merchant = {"Authorization": f"Bearer {await create_api_key(app, role='merchant', owner='M-KASHGAR')}"}
        await client.post("/v1/orders", json=mail_parcel(), headers={**merchant, "Idempotency-Key": "trace-2"})
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            message = await eventually(lambda: _first(js, "SILKGATE_ORDERS"))
        finally:
            await nc.close()
    publish = next(s for s in exporter.get_finished_spans() if s.name == "publish silkgate.orders.order.accepted.v1")
    version, trace_id, span_id, _flags = message.headers["traceparent"].split("-")
    assert (int(trace_id, 16), int(span_id, 16)) == (publish.context.trace_id, publish.context.span_id)


async def test_with_tracing_off_nothing_is_recorded_and_no_header_is_added(database_provider, nats_url,
                                                                            certificates):
    assert not tracing.enabled()
    async with AsyncExitStack() as stack:
        app, client = await start_three(database_provider, nats_url, stack, certificates)
        merchant = {"Authorization": f"Bearer {await create_api_key(app, role='merchant', owner='M-KASHGAR')}"}
        await client.post("/v1/orders", json=mail_parcel(), headers={**merchant, "Idempotency-Key": "trace-3"})
        nc = await nats.connect(nats_url)
        try:
            message = await eventually(lambda: _first(nc.jetstream(), "SILKGATE_ORDERS"))
        finally:
            await nc.close()
    assert "traceparent" not in (message.headers or {})


async def _first(js, stream):
    try:
        return await js.get_msg(stream, seq=1)
    except Exception:  # noqa: BLE001 - not there yet
        return None


async def test_a_dead_letter_keeps_its_trace_context_and_its_replay_continues_the_trace(exporter, start_orders):
    from shared.contract.envelope import Envelope
    from shared.contract.events import WaybillIssued
    from shared.dlq import DeadLetters
    from tests.orders import events

    orders = await start_orders(consumer_max_attempts=1)
    consumer = next(c for c in orders.runtime.consumers if WaybillIssued.event_type() in c.handlers)
    handle = consumer.handlers[WaybillIssued.event_type()]
    broken = [True]

    async def maybe_failing(ctx):
        if broken[0]:
            raise RuntimeError("not yet")
        await handle(ctx)

    consumer.handlers[WaybillIssued.event_type()] = maybe_failing
    order_id = (await orders.create_order(mail_parcel()))["id"]
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    envelope = Envelope.wrap(events.waybill_issued(order_id), subject=order_id, correlation_id="c")
    await orders.runtime.bus.wait_ready()
    await orders.runtime.bus.js.publish(envelope.type, envelope.to_bytes(),
                                        headers={"Nats-Msg-Id": envelope.id, "traceparent": traceparent})
    letters = DeadLetters(orders.runtime.bus.js)
    (letter,) = await eventually(lambda: letters.list(service="orders"), timeout=30)
    assert letter.detail()["headers"]["traceparent"] == traceparent
    broken[0] = False
    await letters.replay(letter.id)

    def replayed():
        return [s for s in exporter.get_finished_spans() if s.name == f"process {envelope.type}"
                and s.attributes.get("messaging.message.id") == envelope.id]

    async def handled_after_replay():
        order = await orders.get_order(order_id)
        return order["tracking_number"] is not None

    await eventually(handled_after_replay, timeout=30)
    spans = replayed()
    assert len(spans) >= 2  # the failed attempt and the replay
    assert {format(s.context.trace_id, "032x") for s in spans} == {"0af7651916cd43dd8448eb211c80319c"}
