"""Log lines a person can read: what `silkgate up` prints and what `silkgate logs` follows.

One line per thing that happened, saying to which parcel and what it became:

    14:02:11.042 orders          order.status_changed ord_3f9c… accepted → awaiting_clearance (declaration.filed) …
    14:02:11.530 postal          http.request POST /v1/tracking-events → 200 (12 ms)

A line said once is not said again: a consumer batch that is rolled back and redone message by message writes its
handlers' lines twice in the JSON logs (the first attempt left nothing behind), but a reader sees each change once.
Warnings and errors are always shown.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from pathlib import Path
from typing import IO, Any

from shared.trace import parse_lines

# Ids that name a parcel or a thing an operator looks up, in the order they are shown.
ID_KEYS = ("order_id", "declaration_id", "tracking_number", "dispatch_id", "dead_letter_id", "merchant_order_no")
DETAIL_KEYS = ("child", "exit_code", "pid", "status", "reason", "error", "attempt", "count", "added", "consumer", "stream", "subject")
QUIET = {"http.request"}  # `up` shows a request only when it failed (every request is in var/log/<service>.jsonl)


def _short_type(event_type: Any) -> str:
    """silkgate.customs.declaration.filed.v1 → declaration.filed"""
    parts = str(event_type).split(".")
    return ".".join(parts[2:-1]) if len(parts) >= 5 and parts[0] == "silkgate" else str(event_type)


def describe(entry: dict[str, Any]) -> str:
    """What happened, in words and ids: the part of the line after the event name."""
    event = entry.get("event", "")
    if event == "http.request":
        duration = entry.get("duration_ms")
        took = f" ({duration:.0f} ms)" if isinstance(duration, int | float) else ""
        return f"{entry.get('method', '?')} {entry.get('path', '?')} → {entry.get('status', '?')}{took}"
    parts = [str(entry[key]) for key in ID_KEYS if entry.get(key)]
    if "new_status" in entry:
        parts.append(f"{entry.get('old_status', '?')} → {entry['new_status']}")
    elif "previous" in entry and "status" in entry:
        parts.append(f"{entry['previous']} → {entry['status']}")
    if entry.get("event_type") and event not in ("consumer.duplicate_skipped",):
        parts.append(f"({_short_type(entry['event_type'])})")
    for key in DETAIL_KEYS:
        if key == "status" and ("new_status" in entry or "previous" in entry):
            continue
        if entry.get(key) not in (None, ""):
            parts.append(f"{key}={entry[key]}")
    return " ".join(parts)


class ConsoleFormatter:
    """Turns JSON log entries into readable lines, each said once."""

    def __init__(self, *, quiet_requests: bool = False, memory: int = 5000) -> None:
        self.quiet_requests = quiet_requests
        self.memory = memory
        self._said: OrderedDict[str, None] = OrderedDict()

    def line(self, entry: dict[str, Any], source: str) -> str | None:
        """The readable line for one entry (None: nothing to show, or already shown). `source` names the process
        when the entry does not (the sandbox carrier's request lines, a file's name)."""
        event = str(entry.get("event", ""))
        level = str(entry.get("level", "info"))
        if self.quiet_requests and event in QUIET and _int(entry.get("status")) < 400:
            return None
        service = str(entry.get("service") or source)
        what = f"{service:<15} {'' if level == 'info' else f'[{level}] '}{event} {describe(entry)}".rstrip()
        if level in ("info", "debug"):
            if what in self._said:
                return None
            self._said[what] = None
            if len(self._said) > self.memory:
                self._said.popitem(last=False)
        stamp = str(entry.get("timestamp", ""))[11:23]
        return f"{stamp} {what}"

    def raw_line(self, text: str, source: str) -> str | None:
        """A line a process printed: JSON is formatted, anything else (a traceback, a library) shown as it is."""
        text = text.rstrip()
        if not text:
            return None
        try:
            entry = json.loads(text)
        except ValueError:
            return f"{'':12} {source:<15} {text}"
        if not isinstance(entry, dict):
            return f"{'':12} {source:<15} {text}"
        return self.line(entry, source)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def follow_logs(log_dir: Path, out: IO[str], *, from_start: bool = False, poll_s: float = 0.3,
                max_seconds: float | None = None) -> None:
    """`silkgate logs`: say what is followed, then merge the services' log files as they grow, in time order."""
    names = sorted(path.stem for path in log_dir.glob("*.jsonl"))
    out.write(f"silkgate logs: following {log_dir}/*.jsonl ({', '.join(names) or 'no log file yet'})"
              f"{'' if from_start else ', new lines only (--from-start shows what is there)'}; Ctrl-C stops\n")
    out.flush()
    formatter = ConsoleFormatter()
    positions: dict[Path, int] = {}
    started = time.monotonic()
    first_scan = True
    while max_seconds is None or time.monotonic() - started < max_seconds:
        batch: list[tuple[dict, str]] = []
        for path in sorted(log_dir.glob("*.jsonl")):
            size = path.stat().st_size
            if path not in positions:
                # Files there when we start: from their end (or start); a file that appears later: all of it.
                positions[path] = size if first_scan and not from_start else 0
                if path.stem not in names:
                    names.append(path.stem)
                    out.write(f"silkgate logs: {path.name} appeared\n")
            if size < positions[path]:
                positions[path] = 0  # truncated or rotated
            with path.open("rb") as handle:
                handle.seek(positions[path])
                chunk = handle.read()
            complete, _, _rest = chunk.rpartition(b"\n")
            positions[path] += len(complete) + (1 if complete else 0)
            batch.extend((entry, path.stem) for entry in parse_lines(complete.decode(errors="replace").splitlines()))
        for entry, source in sorted(batch, key=lambda item: str(item[0].get("timestamp", ""))):
            text = formatter.line(entry, source)
            if text is not None:
                out.write(text + "\n")
        out.flush()
        first_scan = False
        time.sleep(poll_s)
