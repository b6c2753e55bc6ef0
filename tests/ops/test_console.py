"""What an operator reads on `silkgate up`'s console and from `silkgate logs`: what happened to which parcel, once."""

from __future__ import annotations

import io
import json
import threading
import time

from click.testing import CliRunner

from shared.cli import main
from shared.console import ConsoleFormatter, follow_logs

STATUS_CHANGED = {"event": "order.status_changed", "order_id": "ord_1", "old_status": "accepted",
                  "new_status": "awaiting_clearance", "event_type": "silkgate.customs.declaration.filed.v1",
                  "tracking_number": "CP000000017CN", "service": "orders", "level": "info",
                  "timestamp": "2026-12-04T10:00:00.123456Z", "correlation_id": "c1"}


def test_a_status_change_says_which_parcel_and_the_status_it_changed_to():
    line = ConsoleFormatter().line(STATUS_CHANGED, "orders-worker")
    assert line == ("10:00:00.123 orders          order.status_changed ord_1 CP000000017CN "
                    "accepted → awaiting_clearance (declaration.filed)")


def test_the_same_line_twice_is_said_once_but_a_warning_always():
    console = ConsoleFormatter()
    assert console.line(STATUS_CHANGED, "orders") is not None
    # A batch redone message by message logs its handlers' lines again, a few milliseconds later.
    assert console.line({**STATUS_CHANGED, "timestamp": "2026-12-04T10:00:00.200000Z"}, "orders") is None
    assert console.line({**STATUS_CHANGED, "new_status": "released", "old_status": "awaiting_clearance"}, "orders")
    warning = {"event": "consumer.handler_failed", "level": "warning", "service": "customs", "reason": "boom",
               "attempt": 1, "timestamp": "2026-12-04T10:00:01Z"}
    assert console.line(warning, "customs") and console.line(warning, "customs")


def test_a_request_line_has_its_method_path_and_status():
    request = {"event": "http.request", "method": "POST", "path": "/v1/orders", "status": 201, "duration_ms": 12.4,
               "service": "orders", "level": "info", "timestamp": "2026-12-04T10:00:00Z"}
    assert "http.request POST /v1/orders → 201 (12 ms)" in ConsoleFormatter().line(request, "orders")
    # `up` keeps its console for parcels: successful requests stay in the log files, failures are shown.
    console = ConsoleFormatter(quiet_requests=True)
    assert console.line(request, "orders") is None
    assert "→ 503" in console.line({**request, "status": 503, "level": "warning"}, "orders")


def test_a_line_without_its_service_is_named_after_its_process():
    carrier = {"event": "tracking.posted", "tracking_number": "CP1", "status": "accepted", "level": "info",
               "timestamp": "2026-12-04T10:00:00Z"}
    assert ConsoleFormatter().line(carrier, "carrier").split()[1] == "carrier"
    assert ConsoleFormatter().raw_line("Traceback (most recent call last):", "carrier").split()[0] == "carrier"


def test_silkgate_logs_says_what_it_follows_then_merges_new_lines(tmp_path):
    (tmp_path / "orders.jsonl").write_text(json.dumps({**STATUS_CHANGED, "order_id": "ord_old"}) + "\n")
    out = io.StringIO()
    follower = threading.Thread(target=follow_logs, args=(tmp_path, out), kwargs={"poll_s": 0.05, "max_seconds": 1.5})
    follower.start()
    time.sleep(0.3)
    with (tmp_path / "orders.jsonl").open("a") as log:
        log.write(json.dumps(STATUS_CHANGED) + "\n" + json.dumps(STATUS_CHANGED) + "\n")
    (tmp_path / "carrier.jsonl").write_text(json.dumps({"event": "carrier.started", "level": "info",
                                                        "timestamp": "2026-12-04T10:00:02Z"}) + "\n")
    follower.join()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"silkgate logs: following {tmp_path}/*.jsonl (orders)")
    assert "ord_old" not in out.getvalue(), "only new lines without --from-start"
    assert sum("order.status_changed ord_1" in line for line in lines) == 1
    assert any(line.split()[1:3] == ["carrier", "carrier.started"] for line in lines)


def test_silkgate_logs_without_a_log_directory_says_how_to_start(tmp_path):
    result = CliRunner().invoke(main, ["logs", "--log-dir", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "silkgate up" in result.output
