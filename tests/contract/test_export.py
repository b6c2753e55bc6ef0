"""The committed contract documents under docs/contract agree with the models in shared/contract."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.contract import ALL_EVENTS, Envelope
from shared.contract.export import asyncapi_document, check, event_schema, export, run_export
from shared.contract.subjects import CONSUMERS, SERVICES
from tests.contract.samples import SAMPLES

CONTRACT_DIR = Path(__file__).resolve().parents[2] / "docs" / "contract"
TYPES = [e.event_type() for e in ALL_EVENTS]


def test_committed_contract_matches_the_models():
    drift = check(CONTRACT_DIR)
    assert not drift, "docs/contract is out of date with shared/contract: run `silkgate contract export`\n" + "\n".join(
        drift
    )


def test_every_event_has_a_committed_schema_with_its_id():
    for event in ALL_EVENTS:
        schema = json.loads((CONTRACT_DIR / "schemas" / f"{event.event_type()}.json").read_text())
        assert schema["$id"] == f"https://silkgate.dev/contract/{event.event_type()}.json"
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["properties"]["type"]["const"] == event.event_type()
        assert schema["$defs"][event.__name__]["additionalProperties"] is False


def test_asyncapi_has_one_channel_per_event_and_the_consumer_map():
    document = asyncapi_document()
    assert document["asyncapi"] == "3.0.0"
    assert document["servers"]["embedded"]["host"] == "127.0.0.1:4223"
    assert {c["address"] for c in document["channels"].values()} == set(TYPES)
    assert len(document["channels"]) == len(ALL_EVENTS)
    senders = {(op["tags"][0]["name"], op["channel"]["$ref"].removeprefix("#/channels/"))
               for op in document["operations"].values() if op["action"] == "send"}
    receivers = {(op["tags"][0]["name"], op["channel"]["$ref"].removeprefix("#/channels/"))
                 for op in document["operations"].values() if op["action"] == "receive"}
    assert senders == {(e.SERVICE, e.event_type()) for e in ALL_EVENTS}
    assert receivers == {(service, t) for service, types in CONSUMERS.items() for t in types}
    assert {"Parcel", "Party", "OrderLine", "Payment", "Finding"} <= document["components"]["schemas"].keys()


def test_asyncapi_references_resolve():
    document = asyncapi_document()
    for ref in _refs(document):
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]


def test_committed_yaml_is_the_json_document():
    as_json = json.loads((CONTRACT_DIR / "asyncapi.json").read_text())
    assert yaml.safe_load((CONTRACT_DIR / "asyncapi.yaml").read_text()) == as_json


def test_consumer_map_follows_the_design():
    assert set(CONSUMERS) == set(SERVICES)
    for service, types in CONSUMERS.items():
        assert set(types) <= set(TYPES)
        assert not [t for t in types if t.startswith(f"silkgate.{service}.")], "a service consumes its own events"
    assert {t.split(".")[2] for t in CONSUMERS["orders"]} == {"waybill", "declaration", "parcel", "event"}
    # every stall customs and postal announce (shared.stall) shows on the order
    assert {"silkgate.customs.event.dead_lettered.v1", "silkgate.postal.event.dead_lettered.v1"} <= set(CONSUMERS["orders"])


@pytest.mark.parametrize("event", ALL_EVENTS, ids=TYPES)
def test_a_sample_of_every_event_round_trips_and_fits_its_schema(event):
    sample = SAMPLES[event]
    envelope = Envelope.wrap(sample, subject="O-1", correlation_id="corr-1", causation_id="evt-0")
    raw = envelope.to_bytes()
    assert Envelope.from_bytes(raw) == envelope
    assert Envelope.from_bytes(raw).event() == sample
    schema = event_schema(event)
    assert _violations(json.loads(raw), schema, schema) == []


def test_the_schema_rejects_what_the_model_rejects():
    schema = event_schema(type(SAMPLES[ALL_EVENTS[1]]))
    message = json.loads(Envelope.wrap(SAMPLES[ALL_EVENTS[1]], subject="O-1", correlation_id="c").to_bytes())
    assert _violations({**message, "data": {**message["data"], "surprise": 1}}, schema, schema)
    assert _violations({**message, "type": "silkgate.orders.other.v1"}, schema, schema)


def test_export_writes_deterministic_files_and_check_reports_drift(tmp_path, capsys):
    first = {p.relative_to(tmp_path): p.read_bytes() for p in export(tmp_path)}
    assert {p.relative_to(tmp_path) for p in export(tmp_path)} == set(first)
    assert {p: p_bytes for p, p_bytes in first.items()} == {p: (tmp_path / p).read_bytes() for p in first}
    assert all(content.endswith(b"\n") for content in first.values())
    assert check(tmp_path) == []
    assert run_export(str(tmp_path), check=True) == 0

    edited = tmp_path / "schemas" / f"{TYPES[0]}.json"
    edited.write_text(edited.read_text().replace('"description": "', '"description": "Edited by hand. ', 1))
    (tmp_path / "schemas" / "silkgate.orders.gone.v1.json").write_text("{}\n")
    (tmp_path / "README.md").unlink()
    drift = check(tmp_path)
    assert [line.split(":")[0] for line in drift] == [
        "README.md", f"schemas/{TYPES[0]}.json", "schemas/silkgate.orders.gone.v1.json"
    ]
    assert run_export(str(tmp_path), check=True) == 1
    assert "run `silkgate contract export`" in capsys.readouterr().err
    assert run_export(str(tmp_path)) == 0
    assert check(tmp_path) == []
    assert not (tmp_path / "schemas" / "silkgate.orders.gone.v1.json").exists()


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


_JSON_TYPES = {"string": str, "object": dict, "array": list, "boolean": bool, "null": type(None)}


def _violations(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str = "$") -> list[str]:
    """The subset of JSON Schema our models produce; jsonschema is not a dependency."""
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].removeprefix("#/$defs/")]
    if "anyOf" in schema:
        fits = any(not _violations(value, option, root, path) for option in schema["anyOf"])
        return [] if fits else [f"{path}: fits no alternative"]
    kind = schema.get("type")
    if kind in ("integer", "number"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or (kind == "integer" and not isinstance(value, int)):
            return [f"{path}: not {kind}"]
    elif kind and not isinstance(value, _JSON_TYPES[kind]):
        return [f"{path}: not {kind}"]
    problems = []
    if "const" in schema and value != schema["const"]:
        problems.append(f"{path}: not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: not one of {schema['enum']}")
    if isinstance(value, str):
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
            problems.append(f"{path}: length")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{path}: pattern")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        problems += [f"{path}.{name}: missing" for name in schema.get("required", []) if name not in value]
        if schema.get("additionalProperties") is False:
            problems += [f"{path}.{name}: not allowed" for name in value if name not in properties]
        for name, item in value.items():
            if name in properties:
                problems += _violations(item, properties[name], root, f"{path}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += _violations(item, schema["items"], root, f"{path}[{i}]")
    return problems
