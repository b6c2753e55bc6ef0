"""Follow parcels through the JSON logs of all three services: `silkgate trace` and `silkgate logs`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

# Fields that name a parcel; any of them can start a trace.
ID_FIELDS = ("correlation_id", "order_id", "tracking_number", "declaration_id", "merchant_order_no", "subject")
SHOWN_FIELDS = ("order_id", "declaration_id", "tracking_number", "status", "reason", "event_type", "error")


def parse_lines(lines: Iterable[str]) -> Iterator[dict]:
    """JSON log entries; lines that are not JSON objects (a prefix from another tool, noise) are skipped."""
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            # Tolerate prefixes such as "orders | {...}" from docker compose or kubectl.
            start = line.find("{")
            if start < 0:
                continue
            line = line[start:]
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            yield entry


def read_log_dir(log_dir: Path) -> list[dict]:
    entries: list[dict] = []
    for path in sorted(log_dir.glob("*.jsonl")):
        with path.open(encoding="utf-8", errors="replace") as handle:
            entries.extend(parse_lines(handle))
    return entries


def trace(entries: list[dict], identifier: str) -> list[dict]:
    """Every entry of the journeys `identifier` belongs to (by correlation id), in time order.

    The identifier may be an order id, a tracking number, a declaration id or a correlation id: we first
    find the correlation ids of the entries that mention it, then take every entry of those journeys.
    """
    correlation_ids = {
        entry["correlation_id"]
        for entry in entries
        if entry.get("correlation_id") and any(str(entry.get(f, "")) == identifier for f in ID_FIELDS)
    }
    journey = [
        entry for entry in entries
        if entry.get("correlation_id") in correlation_ids or any(str(entry.get(f, "")) == identifier for f in ID_FIELDS)
    ]
    return sorted(journey, key=lambda e: str(e.get("timestamp", "")))


def format_entry(entry: dict) -> str:
    stamp = str(entry.get("timestamp", ""))[:23].replace("T", " ")
    level = entry.get("level", "info")
    details = " ".join(f"{k}={entry[k]}" for k in SHOWN_FIELDS if k in entry)
    marker = "" if level == "info" else f" [{level}]"
    return f"{stamp}  {entry.get('service', '?'):<8} {entry.get('event', '')}{marker}  {details}".rstrip()


def follow(log_dir: Path, out: IO[str], *, from_start: bool = False, poll_s: float = 0.3,
           max_seconds: float | None = None) -> None:
    """Merge the services' log files as they grow (like `tail -f` over all of them)."""
    positions: dict[Path, int] = {}
    started = time.monotonic()
    while max_seconds is None or time.monotonic() - started < max_seconds:
        batch: list[dict] = []
        for path in sorted(log_dir.glob("*.jsonl")):
            size = path.stat().st_size
            if path not in positions:
                positions[path] = 0 if from_start else size
            if size < positions[path]:
                positions[path] = 0  # truncated or rotated
            with path.open(encoding="utf-8", errors="replace") as handle:
                handle.seek(positions[path])
                chunk = handle.read()
                complete, _, _rest = chunk.rpartition("\n")
                positions[path] += len(complete.encode()) + (1 if complete else 0)
            batch.extend(parse_lines(complete.splitlines()))
        for entry in sorted(batch, key=lambda e: str(e.get("timestamp", ""))):
            out.write(format_entry(entry) + "\n")
        out.flush()
        time.sleep(poll_s)
