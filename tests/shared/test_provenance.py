"""Consumers believe an event only when its type is the subject it came on and its source publishes that subject."""

from __future__ import annotations

from shared.consumer_messages import provenance_problem
from shared.contract.envelope import Envelope
from tests.shared.kit_service import accepted


def envelope(**changes) -> Envelope:
    return Envelope.wrap(accepted("o1"), subject="o1", correlation_id="c").model_copy(update=changes)


def test_an_event_from_its_own_service_on_its_own_subject_is_believed():
    genuine = envelope()
    assert genuine.source == "silkgate/orders"
    assert provenance_problem(genuine, "silkgate.orders.order.accepted.v1") is None


def test_a_wrong_source_is_refused_with_the_reason():
    reason = provenance_problem(envelope(source="silkgate/customs"), "silkgate.orders.order.accepted.v1")
    assert reason.startswith("refused: source silkgate/customs") and "silkgate/orders" in reason


def test_a_type_other_than_the_subject_is_refused():
    reason = provenance_problem(envelope(), "silkgate.orders.order.cancelled.v1")
    assert reason == ("refused: event type silkgate.orders.order.accepted.v1 arrived on subject "
                      "silkgate.orders.order.cancelled.v1")
