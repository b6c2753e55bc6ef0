"""OpenTelemetry traces: one parcel's journey as one trace across the three services. Off unless configured.

Spans: each HTTP request (FastAPI's own telemetry), each outbox event published by the relay (PRODUCER), and each
event a consumer handles (CONSUMER). The trace context crosses the broker as a W3C `traceparent` NATS message
header. An event written inside a request or a handler keeps that span's context in its outbox row
(`outbox.trace_context`), so the relay, possibly much later and in another process, publishes it as a child of the
span that caused it: merchant's POST → orders' publish → customs' and postal's handling → their publishes → …

Turned on by the standard OpenTelemetry variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) exports over OTLP/HTTP; `OTEL_SERVICE_NAME` defaults to `silkgate-<service>`;
`OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` keep it off. When off, nothing of the SDK is imported and each
hook costs one boolean test: the benchmark's CPU per order does not move.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

TRACEPARENT = "traceparent"
_NOTHING = nullcontext()  # reusable: what a hook returns when tracing is off


class _State:
    enabled = False
    provider: Any = None
    propagator: Any = None  # W3C trace context, loaded with the provider (OpenTelemetry is imported only when on)


STATE = _State()


def enabled() -> bool:
    return STATE.enabled


def configured_by_environment() -> bool:
    """The standard OTel variables ask for OTLP export (and nothing turns it off)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").lower() == "none":
        return False
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def setup(service: str, *, role: str = "") -> bool:
    """Install an OTLP-exporting tracer provider once per process when the environment asks for it."""
    if STATE.enabled or not configured_by_environment():
        return STATE.enabled
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {"service.name": os.environ.get("OTEL_SERVICE_NAME") or f"silkgate-{service}",
                  "service.namespace": "silkgate"}
    if role:
        attributes["silkgate.role"] = role
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    use_provider(provider)
    return True


def use_provider(provider: Any) -> None:
    """Trace with `provider` from now on (setup() above; tests pass one with an in-memory exporter)."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    STATE.propagator = TraceContextTextMapPropagator()
    STATE.provider = provider
    STATE.enabled = True


def disable() -> None:
    """Back to no tracing (tests)."""
    STATE.provider = None
    STATE.enabled = False


def shutdown() -> None:
    """Flush what is buffered (at process exit)."""
    if STATE.provider is not None and hasattr(STATE.provider, "shutdown"):
        STATE.provider.shutdown()


def tracer(service: str) -> Any:
    return STATE.provider.get_tracer(f"silkgate.{service}")


def fastapi_telemetry(service: str) -> dict[str, Any]:
    """`FastAPI(telemetry=…)`: FastAPI's own OpenTelemetry support makes the HTTP server spans, with our provider
    when tracing is on; off, it is told so, and skips its per-request checks."""
    if not STATE.enabled:
        return {"tracing": False, "metrics": False, "logs": False}

    def not_probes(scope: Any) -> bool:
        return scope.get("path") in ("/healthz", "/readyz", "/metrics")

    return {"tracer_provider": STATE.provider, "metrics": False, "logs": False, "operation_spans": False,
            "exclude": not_probes}


def current_traceparent() -> str | None:
    """The W3C traceparent of the active span, for an outbox row written now (None when off or no span)."""
    if not STATE.enabled:
        return None
    carrier: dict[str, str] = {}
    STATE.propagator.inject(carrier)
    return carrier.get(TRACEPARENT)


def _parent(traceparent: str | None) -> Any:
    """The context to start a span in: the remote parent's, or a fresh one (a new trace)."""
    from opentelemetry.context import Context

    return STATE.propagator.extract({TRACEPARENT: traceparent}) if traceparent else Context()


@contextmanager
def publishing(service: str, event_type: str, event_id: str, traceparent: str | None,
               headers: dict[str, str]) -> Iterator[None]:
    """A PRODUCER span for one outbox event, child of the span that wrote it; its context goes in `headers`."""
    if not STATE.enabled:
        yield
        return
    from opentelemetry.trace import SpanKind

    with tracer(service).start_as_current_span(
        f"publish {event_type}", context=_parent(traceparent), kind=SpanKind.PRODUCER,
        attributes={"silkgate.service": service, "messaging.system": "nats", "messaging.destination.name": event_type,
                    "messaging.message.id": event_id},
    ):
        STATE.propagator.inject(headers)
        yield


def handling(service: str, msg: Any, envelope: Any) -> Any:
    """A CONSUMER span for one event, child of the publisher's span from the `traceparent` header."""
    if not STATE.enabled:
        return _NOTHING
    from opentelemetry.trace import SpanKind

    headers = getattr(msg, "headers", None) or {}
    return tracer(service).start_as_current_span(
        f"process {envelope.type}", context=_parent(headers.get(TRACEPARENT)), kind=SpanKind.CONSUMER,
        attributes={"silkgate.service": service, "messaging.system": "nats",
                    "messaging.destination.name": envelope.type, "messaging.message.id": envelope.id,
                    "silkgate.order_id": envelope.subject, "silkgate.correlation_id": envelope.correlation_id},
    )
