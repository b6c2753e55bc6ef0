"""Personal data is masked in logs; every line is JSON with the service and bound ids."""

from __future__ import annotations

import io
import json

import structlog

from shared.logging import configure_logging, mask_personal_data, mask_value, message_context


def test_mask_value_keeps_only_the_last_four_characters():
    assert mask_value("11010519491231002X") == "**************002X"
    assert mask_value("123") == "****"


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
    assert masked["consignee"]["name"] == "Li Lei"
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
