"""shared.stall without a broker: a parked event about an order becomes one announcement on the service's own
subject, with a short reason and a stable id; a message naming no order, or a failing publish, announces nothing
and never raises."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.contract.envelope import Envelope
from shared.contract.events import PostalEventDeadLettered
from shared.stall import OrdersEventDeadLettered, announce_stall, short_reason, stall_of
from tests.orders import events

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def parked(order_id: str = "ord_1") -> Envelope:
    return Envelope.wrap(events.released(order_id), subject=order_id, correlation_id="corr-1")


class FakeJetStream:
    def __init__(self, fail: bool = False) -> None:
        self.published: list[tuple[str, bytes, dict]] = []
        self.fail = fail

    async def publish(self, subject, data, headers=None):
        if self.fail:
            raise ConnectionError("broker gone")
        self.published.append((subject, data, headers))


def test_the_reason_keeps_the_error_type_and_never_its_message():
    assert short_reason("RuntimeError: consignee Li Wei +86 138 0013 8000 refused") == "RuntimeError"
    assert short_reason("unreadable message: JSONDecodeError") == "unreadable message"
    assert short_reason("") == "unknown"


def test_a_parked_event_about_an_order_becomes_the_services_announcement():
    original = parked()
    envelope, event = stall_of(service="postal", consumer="postal", data=original.to_bytes(),
                               reason="KeyError: NOPE", dead_letter_id=42, now=AT)
    assert envelope.type == "silkgate.postal.event.dead_lettered.v1" and envelope.source == "silkgate/postal"
    assert (envelope.subject, envelope.correlation_id, envelope.causation_id) == ("ord_1", "corr-1", original.id)
    assert event == PostalEventDeadLettered(order_id="ord_1", original_type=original.type, original_id=original.id,
                                            consumer="postal", reason="KeyError", dead_letter_id=42,
                                            dead_lettered_at=AT)
    assert Envelope.from_bytes(envelope.to_bytes()).event() == event
    again, _ = stall_of(service="postal", consumer="postal", data=original.to_bytes(), reason="x", dead_letter_id=42)
    assert again.id == envelope.id  # one dead letter, one Nats-Msg-Id: the broker drops a repeat
    other, _ = stall_of(service="postal", consumer="postal", data=original.to_bytes(), reason="x", dead_letter_id=43)
    assert other.id != envelope.id  # parked again after a replay: announced again


def test_orders_own_stall_is_a_local_event_and_unreadable_messages_name_no_order():
    _, event = stall_of(service="orders", consumer="orders", data=parked().to_bytes(), reason="x", dead_letter_id=1)
    assert isinstance(event, OrdersEventDeadLettered)
    assert stall_of(service="postal", consumer="postal", data=b"{not json", reason="x", dead_letter_id=1) is None


async def test_announcing_publishes_with_its_id_and_a_failure_never_raises():
    js = FakeJetStream()
    await announce_stall(service="customs", consumer="customs", js=js, data=parked().to_bytes(), reason="E: m",
                         dead_letter_id=3)
    [(subject, data, headers)] = js.published
    assert subject == "silkgate.customs.event.dead_lettered.v1"
    assert headers == {"Nats-Msg-Id": Envelope.from_bytes(data).id}

    await announce_stall(service="customs", consumer="customs", js=FakeJetStream(fail=True),
                         data=parked().to_bytes(), reason="E", dead_letter_id=4)  # logged, not raised

    recorded = []

    async def record(envelope, event):
        recorded.append(event)

    await announce_stall(service="orders", consumer="orders", js=js, data=parked().to_bytes(), reason="E",
                         dead_letter_id=5, record=record)
    assert [type(e) for e in recorded] == [OrdersEventDeadLettered] and len(js.published) == 1

    async def broken(envelope, event):
        raise RuntimeError("database down")

    await announce_stall(service="orders", consumer="orders", js=js, data=parked().to_bytes(), reason="E",
                         dead_letter_id=6, record=broken)  # logged, not raised
