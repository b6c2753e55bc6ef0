"""Personal data is masked in logs; every line is JSON with the service and bound ids."""

from __future__ import annotations

import io
import json

import structlog

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from shared.contract.parcel import Party, Payment
from shared.contract.personal import personal_field_names
from shared.db import Database
from shared.logging import configure_logging, mask_personal_data, mask_text, mask_value, message_context, safe_error


def test_mask_value_keeps_only_the_last_four_characters():
    assert mask_value("11010519491231002X") == "**************002X"
    assert mask_value("1234567") == "****"


def test_processor_masks_sensitive_keys_nested_and_ids_in_free_text():
    event = {
        "event": "order.accepted",
        "consignee": {"name": "Li Lei", "phone": "+86 138 0013 8000", "id_number": "11010519491231002X"},
        "note": "buyer id 11010519491231002X called from 13800138000",
        "order_id": "ord_1",
    }
    masked = mask_personal_data(None, "info", event)
    assert masked["consignee"]["phone"].endswith("8000") and "138 0013" not in masked["consignee"]["phone"]
    assert masked["consignee"]["id_number"] == "**************002X"
    assert "11010519491231002X" not in masked["note"] and "13800138000" not in masked["note"]
    assert masked["consignee"]["name"] == "****"  # the contract marks a party's name personal
    assert masked["order_id"] == "ord_1" and masked["event"] == "order.accepted"


def test_configured_logger_writes_json_lines_with_service_and_correlation(tmp_path, capsys):
    log_file = tmp_path / "orders.jsonl"
    configure_logging("orders", log_file=str(log_file))
    with structlog.contextvars.bound_contextvars(correlation_id="corr-1"):
        structlog.get_logger().info("order.accepted", order_id="ord_1", phone="13800138000")
    line = json.loads(io.StringIO(log_file.read_text()).readline())
    assert line["event"] == "order.accepted"
    assert line["service"] == "orders" and line["correlation_id"] == "corr-1" and line["order_id"] == "ord_1"
    assert line["phone"] == "*******8000"
    assert "timestamp" in line and line["level"] == "info"
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["event"] == "order.accepted"


def test_timestamps_and_hex_ids_in_values_stay_readable():
    event = {"event": "declaration.claimed", "claim_expires_at": "2026-11-21T07:15:00.123456+00:00",
             "event_id": "3723ad3134ab4f7786bc451c49a0bf1e", "note": "call +86 138 0013 8000 after 2026-11-21 07:15"}
    masked = mask_personal_data(None, "info", event)
    assert masked["claim_expires_at"] == event["claim_expires_at"]
    assert masked["event_id"] == event["event_id"]
    assert "2026-11-21 07:15" in masked["note"] and "0013" not in masked["note"]


def test_message_context_names_the_handled_event_on_every_line_until_the_block_ends(tmp_path):
    log_file = tmp_path / "customs.jsonl"
    configure_logging("customs", log_file=str(log_file))
    log = structlog.get_logger()
    with structlog.contextvars.bound_contextvars(correlation_id="from-the-request"):
        with message_context(correlation_id="corr-7", event_id="evt-7", order_id="ord_7"):
            log.info("declaration.filed")
            log.info("declaration.released", order_id="ord_explicit")
        log.info("after.the.message")
    first, second, after = (json.loads(line) for line in log_file.read_text().splitlines())
    assert first["event_id"] == "evt-7" and first["order_id"] == "ord_7" and first["correlation_id"] == "corr-7"
    assert second["order_id"] == "ord_explicit"  # what a line says itself wins
    assert "event_id" not in after and after["correlation_id"] == "from-the-request"


def test_the_contract_marks_which_fields_are_personal_and_the_exported_schemas_say_so():
    names = personal_field_names()
    assert {"name", "phone", "address", "email", "id_number", "payer_name", "payer_id_number"} <= names
    assert {"consignee_name", "sender_phone", "buyer_id_number", "payment_payer_name"} <= names
    assert not {"country", "city", "order_id", "tracking_number", "merchant_code"} & names
    schema = Party.model_json_schema()
    assert schema["properties"]["phone"]["x-personal"] is True and "x-personal" not in schema["properties"]["country"]
    assert Payment.model_json_schema()["properties"]["payer_id_number"]["x-personal"] is True


PERSON = {"name": "Wang Xiaoming", "phone": "+86 138 0013 8000", "address": "88 Jiefang Rd, Kashgar",
          "country": "CN", "email": "wang.xm@example.cn", "id_type": "resident_id", "id_number": "65310119900307123X"}


def test_personal_fields_are_masked_by_their_mark_wherever_they_appear():
    party = Party.model_validate(PERSON)
    event = {"event": "x.y", "consignee": party, "parties": [PERSON], "payer_name": "Wang Xiaoming",
             "consignee_email": "wang.xm@example.cn", "deep": {"payment": {"payer_id_number": "65310119900307123X"}},
             "api_key": "sg_merchant_abcdefgh", "country": "CN"}
    line = json.dumps(mask_personal_data(None, "info", event))
    for value in ("Wang", "Xiaoming", "Jiefang", "wang.xm", "example.cn", "0013", "65310119900307", "abcdefgh"):
        assert value not in line
    assert '"country": "CN"' in line  # not personal: stays


@pytest.mark.parametrize("spelling", [
    "138 0013 8000", "0086-138-0013-8000", "+86 138 0013 8000", "+86-13800138000", "(+86) 138-0013-8000",
    "13800138000", "+49 30 1234567", "(0998) 2821234", "0998-2821234",
])
def test_phones_in_free_text_are_masked_in_their_many_spellings(spelling):
    masked = mask_text(f"courier called {spelling} twice")
    digits = "".join(ch for ch in spelling if ch.isdigit())
    assert digits[:-4] not in "".join(ch for ch in masked if ch.isdigit())
    assert masked.startswith("courier called ") and masked.endswith(" twice")


@pytest.mark.parametrize("text,secret", [
    ("passport E12345678 shown", "E12345678"), ("passport EA1234567", "EA1234567"),
    ("id 65310119900307123X", "65310119900307123X"), ("old id 653101900307123", "653101900307123"),
    ("mail wang.xm@example.cn now", "wang.xm@example.cn"),
])
def test_ids_passports_and_emails_in_free_text_are_masked(text, secret):
    assert secret not in mask_text(text)


@pytest.mark.parametrize("text", [
    "2026-11-21T07:15:00.123456+00:00", "2026-11-21 07:15", "CP123456785CN", "SGX0000000019", "SGL00000001",
    "ord_3f9c2a7be1d04c6a8e5f0b12", "amount 1234567.89", "took 12345 ms", "M001", "dcl_9a0d4c1b7e2f4a6b8c3d5e71",
])
def test_ids_timestamps_and_amounts_stay_readable(text):
    assert mask_text(text) == text


def test_a_validation_error_is_logged_by_type_and_fields_never_with_the_input():
    with pytest.raises(ValidationError) as caught:
        Party.model_validate({**PERSON, "phone": "call Wang Xiaoming at home", "country": "China"})
    safe = safe_error(caught.value)
    assert safe.startswith("ValidationError: 2 error(s)") and "phone" in safe and "country" in safe
    assert "Wang" not in safe and "China" not in safe


async def test_a_database_error_never_carries_the_statements_parameters(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE people (name TEXT UNIQUE)"))
        with pytest.raises(IntegrityError) as caught:
            async with db.transaction() as session:
                for _ in range(2):
                    await session.execute(text("INSERT INTO people VALUES (:name)"), {"name": "Wang Xiaoming"})
        assert "Wang" not in str(caught.value)  # the engine hides parameters
        assert "Wang" not in safe_error(caught.value) and "UNIQUE" in safe_error(caught.value)
    finally:
        await db.dispose()


def test_an_exception_is_logged_with_its_frames_and_a_safe_message(tmp_path):
    log_file = tmp_path / "postal.jsonl"
    configure_logging("postal", log_file=str(log_file))
    try:
        try:
            raise KeyError("consignee +86 138 0013 8000")
        except KeyError as inner:
            raise RuntimeError("handoff failed for wang.xm@example.cn") from inner
    except RuntimeError:
        structlog.get_logger().exception("handoff.failed", order_id="ord_1")
    line = log_file.read_text()
    entry = json.loads(line)
    assert "RuntimeError" in entry["exception"] and "KeyError" in entry["exception"]
    assert "test_logging.py" in entry["exception"]  # the frames are there
    assert "0013" not in line and "wang.xm" not in line and entry["order_id"] == "ord_1"


def test_identifiers_and_codes_are_never_taken_for_phones():
    event = {"event": "declaration.filed", "hs_code": "0901210000", "order_id": "0901210000123",
             "tracking_number": "13800138000", "note": "hs 0901210000"}
    masked = mask_personal_data(None, "info", event)
    assert masked["hs_code"] == "0901210000" and masked["order_id"] == "0901210000123"
    assert masked["tracking_number"] == "13800138000"
    assert masked["note"] != "hs 0901210000"  # in free text the same digits could be a landline: masked


def test_a_line_is_json_in_ascii_whatever_it_holds():
    from datetime import UTC, datetime

    from structlog.processors import _json_fallback_handler

    from shared.logging import _json_line

    plain = {"event": "order.accepted", "order_id": "ord_1", "lines": 2, "value": 1.5, "held": False}
    chinese = {"event": "declaration.held", "item": "丝巾"}
    dated = {"event": "x.y", "at": datetime(2026, 12, 5, tzinfo=UTC), 1: "int key", "big": 2**70, "set": {3}}
    for entry in (plain, chinese, dated):
        line = _json_line(entry, default=_json_fallback_handler)
        assert line.isascii(), line
        assert json.loads(line) == json.loads(json.dumps(entry, default=_json_fallback_handler))
    assert "\\u4e1d\\u5dfe" in _json_line(chinese, default=_json_fallback_handler)
