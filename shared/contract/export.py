"""Generate the committed contract documents from the models: a JSON Schema per event type and AsyncAPI 3.

Each schema file describes one whole NATS message: the CloudEvents envelope with `type` fixed to the event
type and `data` the event's payload (`$defs` holds the payload and the shared models), so one file validates
one message as it travels and a change to the envelope shows up in every event's schema. Schemas are pydantic's
*validation* mode — what a consumer accepts: decimals are a number or a string (producers send strings), and a
property with a default may be absent.
"""

from __future__ import annotations

import difflib
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from shared.contract import compat
from shared.contract.compat import check_compatibility
from shared.contract.decimals import strip_marker
from shared.contract.envelope import Envelope
from shared.contract.events import ALL_EVENTS, Event
from shared.contract.subjects import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM, consumers_of, stream_name

SCHEMA_ID_BASE = "https://silkgate.dev/contract/"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# The document's own version; each event's version is in its type and subject.
ASYNCAPI_INFO_VERSION = "1.0.0"
SERVERS: dict[str, Any] = {
    "embedded": {
        "host": "127.0.0.1:4223",
        "protocol": "nats",
        "description": "The nats-server with JetStream that `silkgate up` starts (store under ./var/).",
    },
    "production": {
        "host": "{host}:{port}",
        "protocol": "nats",
        "description": "The NATS cluster named by SILKGATE_NATS_URL.",
        "variables": {"host": {"default": "nats"}, "port": {"default": "4222"}},
    },
}


def event_schema(event_cls: type[Event]) -> dict[str, Any]:
    """JSON Schema 2020-12 of one message of this event type: the envelope with `data` = the payload."""
    # The HTTP documents' decimal bounds (shared.contract.decimals) are not part of the versioned event shape.
    payload = strip_marker(event_cls.model_json_schema(mode="validation", ref_template="#/$defs/{model}"))
    defs = payload.pop("$defs", {})
    name = event_cls.__name__
    if name in defs:
        raise ValueError(f"{name} is both an event and a model it contains")
    defs[name] = payload
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"{SCHEMA_ID_BASE}{event_cls.event_type()}.json",
        "title": name,
        "description": _description(event_cls),
        **_envelope(event_cls, f"#/$defs/{name}"),
        "$defs": defs,
        "x-silkgate": {
            "publisher": event_cls.SERVICE,
            "event": event_cls.NAME,
            "version": event_cls.VERSION,
            "subject": event_cls.event_type(),
            "stream": stream_name(event_cls.SERVICE),
        },
    }


_SHARED_NAMES = {e.NAME for e in ALL_EVENTS if len({o.SERVICE for o in ALL_EVENTS if o.NAME == e.NAME}) > 1}


def asyncapi_document() -> dict[str, Any]:
    """AsyncAPI 3.0.0: one channel per subject, `send` by the publisher, `receive` by each consumer."""
    refs, top = strip_marker(models_json_schema([(e, "validation") for e in ALL_EVENTS],
                                                ref_template="#/components/schemas/{model}"))
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event in ALL_EVENTS:
        payload_ref = refs[(event, "validation")]["$ref"]
        name = payload_ref.rsplit("/", 1)[1]
        channel_id = event.event_type()
        messages[name] = {
            "name": event.event_type(),
            "title": name,
            "summary": _description(event).splitlines()[0],
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "properties": {
                    "Nats-Msg-Id": {
                        "type": "string",
                        "description": "The envelope id; JetStream drops a duplicate within its window.",
                    }
                },
            },
            "payload": _envelope(event, payload_ref),
        }
        channels[channel_id] = {
            "address": event.event_type(),
            "title": name,
            "description": _description(event),
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "x-stream": stream_name(event.SERVICE),
        }
        for action, service in [("send", event.SERVICE)] + [("receive", s) for s in consumers_of(event)]:
            # A name several services publish (event.dead_lettered) names its publisher too, to stay unique.
            op_name = f"{event.SERVICE}.{event.NAME}" if event.NAME in _SHARED_NAMES else event.NAME
            operations[f"{service}.{action}.{op_name}.v{event.VERSION}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"}],
                "summary": _operation_summary(action, service, event),
                "tags": [{"name": service}],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "silkgate events",
            "version": ASYNCAPI_INFO_VERSION,
            "description": "The events orders, customs and postal exchange over NATS JetStream. "
            "Generated from shared/contract by `silkgate contract export`.",
        },
        "defaultContentType": "application/json",
        "servers": SERVERS,
        "channels": channels,
        "operations": operations,
        "components": {"schemas": top.get("$defs", {}), "messages": messages},
    }


def render() -> dict[str, str]:
    """Every generated file, by its path relative to the contract directory, as it is committed."""
    files = {f"schemas/{e.event_type()}.json": _dump_json(event_schema(e)) for e in ALL_EVENTS}
    files["asyncapi.json"] = _dump_json(asyncapi_document())
    # Through JSON first: a fresh tree, so PyYAML writes no anchors for the shared sub-documents.
    as_yaml = yaml.safe_dump(json.loads(files["asyncapi.json"]), sort_keys=True, allow_unicode=True, width=120)
    files["asyncapi.yaml"] = "# Generated by `silkgate contract export` from shared/contract — do not edit.\n" + as_yaml
    files["README.md"] = _readme()
    return files


def export(directory: Path | str) -> list[Path]:
    """Write every generated file under `directory` and remove schema files no model generates any longer."""
    directory = Path(directory)
    files = render()
    for stale in _stale(directory, files):
        stale.unlink()
    written = []
    for relative, text in sorted(files.items()):
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def check(directory: Path | str) -> list[str]:
    """How the files under `directory` differ from what the models generate (empty when they agree)."""
    return _differences(Path(directory))


def run_export(out_dir: str = "docs/contract", check: bool = False) -> int:
    """`silkgate contract export [--check]`: write the files, or list drift and breaking changes; the exit code."""
    directory = Path(out_dir)
    breaking = check_compatibility(directory, ALL_EVENTS)
    drift = _differences(directory) if check else []
    for line in breaking:
        print(f"breaking: {line}", file=sys.stderr)
    if check:
        for line in drift:
            print(f"drift: {line}", file=sys.stderr)
        if drift:
            print(f"{directory} is out of date with the models: run `silkgate contract export`", file=sys.stderr)
        if not drift and not breaking:
            print(f"{directory} matches the models ({len(ALL_EVENTS)} event types)")
        return 1 if drift or breaking else 0
    if breaking:
        print(f"nothing written to {directory}: keep the committed version and add a new event type", file=sys.stderr)
        return 1
    written = export(directory)
    print(f"wrote {len(written)} files under {directory}")
    return 0


def _envelope(event_cls: type[Event], data_ref: str) -> dict[str, Any]:
    """The envelope's schema with `type` fixed to the event type and `data` pointing at the payload."""
    schema = Envelope.model_json_schema(mode="validation")
    for annotation in ("title", "description"):
        schema.pop(annotation, None)
    schema["properties"]["type"] = {"const": event_cls.event_type(), "title": "Type", "type": "string"}
    schema["properties"]["data"] = {"$ref": data_ref}
    return schema


def _description(event_cls: type[Event]) -> str:
    # __doc__, not inspect.getdoc: an event without its own docstring must not inherit Event's.
    own = inspect.cleandoc(event_cls.__doc__) if event_cls.__doc__ else ""
    consumers = ", ".join(consumers_of(event_cls)) or "no service yet"
    facts = (
        f"`{event_cls.NAME}` v{event_cls.VERSION}, published by {event_cls.SERVICE} on subject "
        f"`{event_cls.event_type()}` (stream {stream_name(event_cls.SERVICE)}); consumed by {consumers}."
    )
    return f"{own}\n\n{facts}" if own else facts


def _operation_summary(action: str, service: str, event: type[Event]) -> str:
    if action == "send":
        return f"{service} publishes {event.NAME} from its transactional outbox (Nats-Msg-Id = envelope id)."
    return (
        f"{service} consumes {event.NAME} with a durable pull consumer on {stream_name(event.SERVICE)}: explicit ack, "
        f"inbox for idempotency, bounded redeliveries, then {DEAD_LETTER_PREFIX}.<consumer>.<subject>."
    )


def _readme() -> str:
    rows = [
        f"| `{e.event_type()}` | {e.SERVICE} | `{stream_name(e.SERVICE)}` | {', '.join(consumers_of(e)) or '—'} "
        f"| [schema](schemas/{e.event_type()}.json) |"
        for e in ALL_EVENTS
    ]
    versioning = inspect.cleandoc(compat.__doc__ or "").split("\n", 1)[1].strip()
    return "\n".join([
        "# silkgate message contract",
        "",
        "Generated from `shared/contract/` by `silkgate contract export` — do not edit by hand. A test fails when",
        "these files and the models disagree; `silkgate contract export --check` lists the differences and any",
        "breaking change.",
        "",
        "- `asyncapi.json` (and `asyncapi.yaml`): AsyncAPI 3.0.0 — servers, one channel per subject, the publishing",
        "  service's `send` operation and a `receive` operation per consuming service.",
        "- `schemas/<event type>.json`: JSON Schema 2020-12 of one whole message — the CloudEvents 1.0 envelope",
        "  (`id`, `source`, `type`, `subject` = the order id, `time`, `correlation_id`, `causation_id`) with `type`",
        "  fixed to the event type and `data` the payload. Decimals validate as a number or a string; producers",
        "  send strings.",
        "",
        "## Events",
        "",
        "The event type is also the NATS subject, `silkgate.<service>.<event>.v<N>`; each publishing service has",
        f"one JetStream stream. Messages that keep failing are parked on `{DEAD_LETTER_PREFIX}.<consumer>.<subject>`",
        f"in `{DEAD_LETTER_STREAM}`.",
        "",
        "| event type = subject | publisher | stream | consumers | schema |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "## Versioning",
        "",
        "Additive changes keep the version; a breaking change is a new model with `VERSION = N + 1` (subject",
        "`….v<N+1>`), published next to the old one until every consumer has moved. `silkgate contract export`",
        "refuses to overwrite a committed schema with a breaking change.",
        "",
        versioning,
        "",
    ])


def _dump_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _stale(directory: Path, files: dict[str, str]) -> list[Path]:
    schemas = directory / "schemas"
    found = sorted(schemas.glob("*.json")) if schemas.is_dir() else []
    return [path for path in found if f"schemas/{path.name}" not in files]


def _differences(directory: Path) -> list[str]:
    files = render()
    problems: list[str] = []
    for relative, expected in sorted(files.items()):
        path = directory / relative
        if not path.exists():
            problems.append(f"{relative}: missing")
            continue
        committed = path.read_text(encoding="utf-8")
        if committed != expected:
            diff = difflib.unified_diff(
                committed.splitlines(), expected.splitlines(), "committed", "generated", n=0, lineterm=""
            )
            excerpt = "\n    ".join(list(diff)[2:14])
            problems.append(f"{relative}: differs from the models\n    {excerpt}")
    problems.extend(f"schemas/{path.name}: no model generates it any longer" for path in _stale(directory, files))
    return problems
