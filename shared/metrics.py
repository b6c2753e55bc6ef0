"""Prometheus metrics shared by the kit (services add their own next to their code)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_PUBLISHED = Counter("silkgate_outbox_published_total", "Outbox events published", ["service"])
OUTBOX_LAG = Gauge("silkgate_outbox_unsent", "Outbox rows not yet published", ["service"])
CONSUMED = Counter("silkgate_events_consumed_total", "Events handled", ["service", "event_type", "outcome"])
DEAD_LETTERED = Counter("silkgate_events_dead_lettered_total", "Events parked in the dead-letter stream", ["service"])
CONSUMER_LAG = Gauge("silkgate_consumer_pending", "Messages pending for a durable consumer", ["service", "stream"])
BATCH_SECONDS = Histogram("silkgate_consumer_batch_seconds", "Time to handle one fetched batch", ["service"])
HTTP_REQUESTS = Counter("silkgate_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
HTTP_SECONDS = Histogram("silkgate_http_request_seconds", "HTTP request latency", ["service", "route"])
# Per event type, for the dashboards' intake and end-to-end rates (order.accepted in, parcel.handed_off out) and the
# time an event waited between being written (its envelope's time) and being handled by each consumer.
EVENTS_PUBLISHED = Counter("silkgate_events_published_total", "Outbox events published, by type",
                           ["service", "event_type"])
EVENT_AGE = Histogram("silkgate_event_age_seconds", "From an event's time to its handling by a consumer",
                      ["service", "event_type"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800))
