"""structlog JSON lines with the correlation id bound per request and per message, personal data masked."""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar, Token
from pathlib import Path
from typing import Any

import structlog

# Keys whose values are personal data (DESIGN.md: ID numbers and phones masked in logs).
_SENSITIVE_KEYS = re.compile(r"(id_number|phone|payer_id|passport|api_key|secret|authorization)", re.I)
# 15/18-char China resident IDs, international phone numbers (+…) and China mobile numbers, inside free text.
# Deliberately narrow: ISO timestamps and hex ids must stay readable.
_ID_IN_TEXT = re.compile(r"\b\d{17}[\dXx]\b|\b\d{15}\b")
_PHONE_IN_TEXT = re.compile(r"\+\d{1,3}[ \-]?\d[\d \-]{5,}\d|\b1[3-9]\d{9}\b")


# The event a consumer is handling: bound once per message, merged into a line only when one is written. Binding
# the same four fields through structlog.contextvars costs more than handling a small event does.
_MESSAGE_CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("silkgate_message_context", default=None)


class message_context:  # noqa: N801 - used like a function: `with message_context(...)`
    """Add these fields to every log line written inside the block (a consumer's message ids)."""

    __slots__ = ("fields", "_token")

    def __init__(self, **fields: Any) -> None:
        self.fields = fields
        self._token: Token | None = None

    def __enter__(self) -> message_context:
        self._token = _MESSAGE_CONTEXT.set(self.fields)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._token is not None:
            _MESSAGE_CONTEXT.reset(self._token)


def merge_message_context(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the handled message's ids, unless the line already names them."""
    fields = _MESSAGE_CONTEXT.get()
    if fields:
        for key, value in fields.items():
            event_dict.setdefault(key, value)
    return event_dict


def mask_value(value: str) -> str:
    """Keep the last four characters, so an operator can still tell two values apart."""
    if len(value) <= 4:
        return "****"
    return "*" * (len(value) - 4) + value[-4:]


def _mask(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v, key) for v in value]
    if isinstance(value, str):
        if key and _SENSITIVE_KEYS.search(key):
            return mask_value(value)
        value = _ID_IN_TEXT.sub(lambda m: mask_value(m.group(0)), value)
        return _PHONE_IN_TEXT.sub(lambda m: mask_value(m.group(0)), value)
    return value


def mask_personal_data(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask ID numbers and phone numbers wherever they appear."""
    return {k: (v if k in ("event", "timestamp", "level") else _mask(v, k)) for k, v in event_dict.items()}


class _TeeStream:
    """Write each line to stdout and to a JSON-lines file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", buffering=1, encoding="utf-8")

    def write(self, text: str) -> int:
        sys.stdout.write(text)
        self._file.write(text)
        return len(text)

    def flush(self) -> None:
        sys.stdout.flush()
        self._file.flush()


# A served process configures logging once, so its loggers can be built once (on first use) instead of at every
# call: about 2% of a worker's CPU. Off by default: tests reconfigure logging (structlog's capture_logs) and a
# cached logger would keep the old configuration.
_cache_loggers = False


def cache_loggers() -> None:
    """Build each logger once from the next configure_logging on (shared.serve: one configuration per process)."""
    global _cache_loggers
    _cache_loggers = True


def configure_logging(service: str, *, level: str = "INFO", log_file: str | None = None) -> None:
    """JSON lines on stdout (and in `log_file`), every line carrying the service name."""
    stream = _TeeStream(Path(log_file)) if log_file else sys.stdout
    structlog.configure(
        processors=[
            merge_message_context,
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            structlog.processors.format_exc_info,
            mask_personal_data,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=_cache_loggers,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    # Quiet the libraries' own loggers; our events say what happened.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
