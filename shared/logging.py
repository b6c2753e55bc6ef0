"""structlog JSON lines with the correlation id bound per request and per message, personal data masked."""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from contextvars import ContextVar, Token
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
import structlog

# Credentials: never written, whatever the line.
_CREDENTIAL_KEYS = re.compile(r"(api_key|secret|authorization|password|token|signature)", re.I)

# Personal data inside free text (an exception's message, a carrier's description, a reason typed by a person).
# Phones in their many spellings (+86 138 0013 8000, 0086-138-0013-8000, (0998) 2821234, 13800138000), 18/15-digit
# resident ID numbers, passport numbers (E12345678, EA1234567), e-mail addresses. Deliberately shaped so that ISO
# timestamps, dates, amounts, hex ids and tracking numbers (S10, carrier waybills) stay readable.
_FREE_TEXT = re.compile(
    r"(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
    r"|(?<![\w.:/+-])(?P<id>\d{17}[\dXx]|\d{15})(?![\w.:/-])"
    r"|(?<![\w.:/+-])(?P<passport>[A-Z]{1,2}\d{7,8})(?![\w.:/-])"
    r"|(?<![\w.:/+-])(?P<phone>(?:\+|\(\+?)?\d[\d \-()]{5,22}\d)(?![\w.:/-])"
)
# Values that are identifiers or codes, never free text: left as they are (an HS code like 0901210000 is no phone).
_IDENTIFIER_KEYS = re.compile(r"(_id|_ids|_code|^tracking_number|^tracking_numbers)$")
_MAYBE_PERSONAL = re.compile(r"[\d@]")
_CHINA_MOBILE = re.compile(r"1[3-9]\d{9}")
_NUMBER_LIKE = re.compile(r"[\d\s+()\-Xx]+")


def _looks_like_phone(text: str) -> bool:
    """A run of digits and separators is a phone number when its digits and shape say so (not a date or count)."""
    digits = sum(ch.isdigit() for ch in text)
    if text.startswith(("+", "(+", "00")):
        return 8 <= digits <= 15
    if any(ch in " -()" for ch in text):
        return 9 <= digits <= 15
    return bool(_CHINA_MOBILE.fullmatch(text)) or (text.startswith("0") and 10 <= digits <= 12)


def _mask_match(match: re.Match[str]) -> str:
    text = match.group(0)
    if match.lastgroup == "phone" and not _looks_like_phone(text):
        return text
    if match.lastgroup == "email":
        return "****@****"
    return mask_value(text)


def mask_text(text: str) -> str:
    """Free text with phones, ID and passport numbers and e-mail addresses masked."""
    if _MAYBE_PERSONAL.search(text) is None:  # every pattern above needs a digit or an @: most log values have neither
        return text
    return _FREE_TEXT.sub(_mask_match, text)


_personal_keys: frozenset[str] | None = None


def personal_keys() -> frozenset[str]:
    """Field names the contract marks as personal data (`x-personal`), and their flattened forms
    (`consignee_phone`, `sender_name`) for every contract field that holds a model with such fields."""
    global _personal_keys
    if _personal_keys is None:
        from shared.contract.personal import personal_field_names

        _personal_keys = personal_field_names()
    return _personal_keys


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
    """Keep the last four characters of a long value (an operator can still tell two apart), nothing of a short one."""
    if len(value) < 8:
        return "****"
    return "*" * (len(value) - 4) + value[-4:]


@lru_cache(maxsize=4096)
def _key_rule(key: str) -> str:
    """How a field's value is masked, by its name (decided once per name: the checks are regexes and a set look-up,
    and every log line repeats the same few names): credential, personal, identifier, or free text."""
    if key and _CREDENTIAL_KEYS.search(key):
        return "credential"
    if key and key.lower() in personal_keys():
        return "personal"
    if key and _IDENTIFIER_KEYS.search(key):
        return "identifier"
    return "text"


def _mask(value: Any, key: str = "") -> Any:
    kind = type(value)
    if kind is str:  # most values of most lines: decided by the field's rule alone
        return _mask_text_field(value, _key_rule(key) if isinstance(key, str) else "text")
    if value is None:
        return None
    if kind is int or kind is float or kind is bool:
        rule = _key_rule(key) if isinstance(key, str) else "text"
        return "****" if rule in ("credential", "personal") else value
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask(v, key) for v in value]
    if hasattr(value, "model_dump") and callable(value.model_dump):
        # A pydantic model (a Party, a Payment, a whole Parcel): masked by its fields' marks, like any dict.
        return _mask(value.model_dump(mode="json"), key)
    rule = _key_rule(key) if isinstance(key, str) else "text"
    if rule in ("credential", "personal"):
        return "****"
    if isinstance(value, str):  # a str subclass
        return _mask_text_field(str(value), rule)
    if isinstance(value, BaseException):
        return safe_error(value)
    return value


def _mask_text_field(value: str, rule: str) -> str:
    if rule == "identifier":
        return value
    if rule == "text":
        return mask_text(value)
    if rule == "credential":
        return "****"
    # Personal: a number (phone, ID) keeps its last four digits; a name, an address or an e-mail keeps nothing.
    return mask_value(value) if _NUMBER_LIKE.fullmatch(value) else "****"


def mask_personal_data(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: personal data masked wherever it appears — the values of the fields the contract marks
    personal (at any depth, in dicts and models), credentials, and personal data in free text."""
    return {k: (v if k in ("event", "timestamp", "level") else _mask(v, k)) for k, v in event_dict.items()}


def safe_error(exc: BaseException) -> str:
    """An exception as its type and a message safe to log: no input values, no statement parameters, personal data
    in the text masked. Validation errors name the fields at fault and the kinds of error, never the values."""
    name = type(exc).__name__
    errors = getattr(exc, "errors", None)
    if callable(errors) and type(exc).__module__.startswith("pydantic"):
        try:
            found = exc.errors(include_input=False, include_url=False)  # type: ignore[attr-defined]
            parts = [f"{'.'.join(str(p) for p in e.get('loc', ())) or '(root)'}: {e.get('type')}" for e in found[:10]]
            return f"{name}: {len(found)} error(s): {'; '.join(parts)}"
        except Exception:  # noqa: BLE001 - fall back to the generic form below
            pass
    orig = getattr(exc, "orig", None)
    if orig is not None and type(exc).__module__.startswith("sqlalchemy"):
        # A driver error: its own first line (constraint names, SQLSTATE), never the statement's parameters.
        message = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
        return f"{name}: {type(orig).__name__}: {mask_text(message)[:300]}"
    message = str(exc).strip()
    if type(exc).__module__.startswith("sqlalchemy"):
        message = message.split("[SQL:", 1)[0].strip()
    return f"{name}: {mask_text(message)[:300]}" if message else name


def safe_exc_info(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor in place of format_exc_info: the traceback's frames (file, line, function, code) and, for
    each exception in the chain, its type and safe message (safe_error) — never the raw messages."""
    exc_info = event_dict.pop("exc_info", None)
    if not exc_info:
        return event_dict
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    exc = exc_info[1]
    if exc is None:
        return event_dict
    chain: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = "".join(traceback.format_list(traceback.extract_tb(current.__traceback__)))
        chain.append(f"{frames}{safe_error(current)}")
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    event_dict["exception"] = "\n--- caused by ---\n".join(chain)
    event_dict.setdefault("error", safe_error(exc))
    return event_dict


def _json_line(event_dict: dict[str, Any], **dumps_kw: Any) -> str:
    """A line's JSON through orjson (~1.5 µs against json.dumps' ~11 for a typical line), for lines in ASCII; any
    other line (a Chinese product name in a finding, say) goes through json.dumps as before, escaped to ASCII, so a
    log stays readable on a terminal or file of any encoding. Values orjson has no rule for (or renders otherwise
    than structlog's fallback would: dates) go the same way."""
    try:
        text = orjson.dumps(event_dict, option=_ORJSON_OPTIONS, default=_passthrough).decode()
    except TypeError:
        text = ""
    return text if text and text.isascii() else json.dumps(event_dict, **dumps_kw)


_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _passthrough(value: Any) -> Any:
    raise TypeError  # not orjson's to render: json.dumps with structlog's fallback does it as before


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
            safe_exc_info,
            mask_personal_data,
            structlog.processors.JSONRenderer(serializer=_json_line),
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
