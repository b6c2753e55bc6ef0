"""`silkgate trace` finds one parcel's journey in mixed logs by any of its ids."""

from __future__ import annotations

import json

from shared.trace import format_entry, parse_lines, trace

LINES = [
    {"timestamp": "2026-11-21T10:00:00.100Z", "service": "orders", "event": "order.accepted", "order_id": "ord_1",
     "correlation_id": "c1"},
    {"timestamp": "2026-11-21T10:00:00.300Z", "service": "postal", "event": "waybill.issued", "order_id": "ord_1",
     "tracking_number": "RR287043775IN", "correlation_id": "c1"},
    {"timestamp": "2026-11-21T10:00:00.200Z", "service": "customs", "event": "declaration.filed",
     "declaration_id": "dcl_1", "correlation_id": "c1"},
    {"timestamp": "2026-11-21T10:00:00.150Z", "service": "orders", "event": "order.accepted", "order_id": "ord_2",
     "correlation_id": "c2"},
]


def as_lines() -> list[str]:
    return [json.dumps(line) for line in LINES] + ["not json", "orders  | " + json.dumps(LINES[0])[:-1] + "}"]


def test_trace_by_tracking_number_returns_the_whole_journey_in_time_order():
    journey = trace(list(parse_lines(as_lines())), "RR287043775IN")
    assert [e["event"] for e in journey] == ["order.accepted", "order.accepted", "declaration.filed", "waybill.issued"]
    assert {e["correlation_id"] for e in journey} == {"c1"}


def test_trace_by_declaration_id_and_by_correlation_id_agree():
    entries = list(parse_lines(as_lines()))
    assert trace(entries, "dcl_1") == trace(entries, "c1")
    assert all(e["correlation_id"] == "c2" for e in trace(entries, "ord_2"))


def test_unknown_identifier_finds_nothing():
    assert trace(list(parse_lines(as_lines())), "ord_404") == []


def test_format_entry_is_one_readable_line():
    line = format_entry(LINES[1])
    assert "postal" in line and "waybill.issued" in line and "tracking_number=RR287043775IN" in line


def test_follow_merges_the_services_logs_in_time_order_and_picks_up_new_lines(tmp_path):
    import io
    import threading
    import time

    from shared.trace import follow

    (tmp_path / "orders.jsonl").write_text(json.dumps(LINES[0]) + "\n")
    (tmp_path / "customs.jsonl").write_text(json.dumps(LINES[2]) + "\n")
    out = io.StringIO()
    worker = threading.Thread(target=follow, args=(tmp_path, out), kwargs={"from_start": True, "poll_s": 0.05,
                                                                          "max_seconds": 1.0})
    worker.start()
    time.sleep(0.3)
    with (tmp_path / "postal.jsonl").open("a") as handle:
        handle.write(json.dumps(LINES[1]) + "\n")
    worker.join()
    lines = out.getvalue().splitlines()
    assert [line.split()[3] for line in lines] == ["order.accepted", "declaration.filed", "waybill.issued"]
