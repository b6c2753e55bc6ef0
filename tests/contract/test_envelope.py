"""The envelope: CloudEvents attributes, journey ids, typed payloads, tolerant of additive changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.contract import Envelope, UnknownEventType
from shared.contract.events import OrderCancelled


def cancelled() -> OrderCancelled:
    return OrderCancelled(order_id="ord_1", merchant_code="M1", reason="changed mind", cancelled_at=datetime.now(UTC))


def test_wrap_sets_cloudevents_attributes_and_journey_ids():
    envelope = Envelope.wrap(cancelled(), subject="ord_1", correlation_id="corr-1", causation_id="evt-0")
    assert envelope.specversion == "1.0" and envelope.source == "silkgate/orders"
    assert envelope.type == "silkgate.orders.order.cancelled.v1" and envelope.subject == "ord_1"
    assert envelope.correlation_id == "corr-1" and envelope.causation_id == "evt-0"
    assert Envelope.from_bytes(envelope.to_bytes()).event() == cancelled().model_copy(
        update={"cancelled_at": envelope.event().cancelled_at})


def test_a_field_added_by_a_newer_producer_is_ignored_by_the_reader():
    raw = Envelope.wrap(cancelled(), subject="ord_1", correlation_id="c").model_dump(mode="json")
    raw["data"]["refund_requested"] = True
    assert Envelope.model_validate(raw).event().order_id == "ord_1"


def test_a_missing_required_field_still_fails():
    raw = Envelope.wrap(cancelled(), subject="ord_1", correlation_id="c").model_dump(mode="json")
    del raw["data"]["order_id"]
    with pytest.raises(ValidationError):
        Envelope.model_validate(raw).event()


def test_unknown_event_type_is_reported():
    raw = Envelope.wrap(cancelled(), subject="ord_1", correlation_id="c").model_dump(mode="json")
    raw["type"] = "silkgate.orders.order.teleported.v1"
    with pytest.raises(UnknownEventType):
        Envelope.model_validate(raw).event()
