"""The transport envelope: wrap and unwrap, and what a bad envelope is refused for."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from shared.ceb.errors import MessageMalformed
from shared.ceb.fields import new_guid
from shared.ceb.transport import kind_of, transport_type, unwrap, wrap

AT = datetime(2026, 3, 1, 2, 21, 13, tzinfo=UTC)


def envelope(kind: str = "CEB621", data: bytes = b"<x/>", **overrides) -> dict:
    values = {"kind": kind, "message_id": new_guid(), "sender_id": "DXPENTSILKGATE01",
              "receiver_id": "DXPEDCCEB0000002", "send_time": AT}
    values.update(overrides)
    return wrap(data, **values)


def test_wrap_and_unwrap_round_trip():
    guid = new_guid()
    body = envelope(data="<x>中</x>".encode(), message_id=guid)
    head = body["Message"]["MessageHead"]
    assert (head["MessageId"], head["MessageType"], head["SendTime"], head["Version"]) == (
        guid, "CEB621Message.xml", "20260301102113000", "1.0")
    assert "Signature" not in head
    got = unwrap(body)
    assert (got.message_id, got.kind, got.data, got.is_xml, got.signature) == (
        guid, "CEB621", "<x>中</x>".encode(), True, None)


def test_json_messages_carry_their_signature_in_the_head():
    got = unwrap(envelope("CUSITM", b"{}", signature="c2ln"))
    assert (got.kind, got.is_xml, got.signature) == ("CUSITM", False, "c2ln")
    assert transport_type("REVIEWANSWER") == "REVIEWANSWER.json" and kind_of("CEB625Message.xml") == "CEB625"
    with pytest.raises(ValueError):
        transport_type("CEB511")


@pytest.mark.parametrize(("mutate", "field", "code"), [
    (lambda b: b.pop("Message"), "Message", "envelope_invalid"),
    (lambda b: b["Message"]["MessageHead"].update(MessageId="not-a-guid"), "Message.MessageHead.MessageId",
     "envelope_invalid"),
    (lambda b: b["Message"]["MessageHead"].update(MessageType="CEB511Message.xml"), "Message.MessageHead.MessageType",
     "message_type_unknown"),
    (lambda b: b["Message"]["MessageBody"].update(data="%%%"), "Message.MessageBody.data", "envelope_invalid"),
    (lambda b: b["Message"]["MessageHead"].update(Extra="x"), "Message.MessageHead.Extra", "envelope_invalid"),
    (lambda b: b["Message"]["MessageHead"].update(SendTime="yesterday"), "Message.MessageHead.SendTime",
     "envelope_invalid"),
])
def test_a_bad_envelope_is_refused_naming_the_field(mutate, field, code):
    body = envelope()
    mutate(body)
    with pytest.raises(MessageMalformed) as caught:
        unwrap(body)
    assert (caught.value.field, caught.value.code) == (field, code)


def test_not_an_object_is_refused():
    with pytest.raises(MessageMalformed):
        unwrap(["Message"])
    assert base64.b64decode(envelope()["Message"]["MessageBody"]["data"]) == b"<x/>"
