"""Additive changes keep an event's version; breaking ones are caught and need a new `.v<N+1>` type."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, create_model

from shared.contract import ALL_EVENTS
from shared.contract.compat import check_compatibility, compare
from shared.contract.events import Event, OrderAccepted, OrderCancelled, ParcelTracking
from shared.contract.export import event_schema, export, run_export

CONTRACT_DIR = Path(__file__).resolve().parents[2] / "docs" / "contract"
Reason = Annotated[str, Field(max_length=512)]


def variant(model: type[Event], *, drop: tuple[str, ...] = (), version: int | None = None, **fields: Any) -> type:
    """A copy of an event model with the same type (or `version`), some fields dropped, others added or replaced."""
    base = type(f"{model.__name__}Base", (Event,), {
        "SERVICE": model.SERVICE, "NAME": model.NAME, "VERSION": version or model.VERSION, "__module__": __name__,
    })
    kept = {name: (info.annotation, info) for name, info in model.model_fields.items()
            if name not in drop and name not in fields}
    return create_model(model.__name__, __base__=base, __module__=__name__, **kept, **fields)


def changes(model: type[Event], **kwargs: Any):
    return compare(event_schema(model), event_schema(variant(model, **kwargs)))


def test_an_unchanged_copy_has_no_differences():
    result = changes(OrderAccepted)
    assert (result.breaking, result.additive) == ([], [])


def test_a_new_optional_field_is_additive():
    class OrderCancelledWithNote(OrderCancelled):
        note: Reason | None = None

    result = compare(event_schema(OrderCancelled), event_schema(OrderCancelledWithNote))
    assert result.compatible
    assert result.additive == ["data.note: new optional property"]


def test_a_new_optional_field_built_with_create_model_is_additive():
    result = changes(OrderCancelled, channel=(Literal["mail", "express"], "mail"))
    assert result.breaking == [] and result.additive == ["data.channel: new optional property"]


def test_a_removed_field_is_breaking():
    assert changes(OrderCancelled, drop=("reason",)).breaking == ["data.reason: property removed (or renamed)"]


def test_a_renamed_field_is_breaking():
    breaking = changes(OrderCancelled, drop=("reason",), why=(Reason, "")).breaking
    assert breaking == ["data.reason: property removed (or renamed)"]


def test_a_new_required_field_is_breaking():
    assert changes(OrderCancelled, note=(Reason, ...)).breaking == ["data.note: new required property"]


def test_a_type_change_is_breaking():
    breaking = changes(ParcelTracking, code=(int, ...)).breaking
    assert breaking == [
        "data.code: no longer accepts string",
        "data.code: now also integer (consumers do not expect it)",
    ]


def test_a_narrowed_enum_is_breaking():
    narrowed = Literal["pre_transit", "in_transit", "held_by_customs", "out_for_delivery", "delivery_failed",
                       "delivered", "returned"]
    assert changes(ParcelTracking, status=(narrowed, ...)).breaking == ["data.status: enum value 'unknown' removed"]


def test_a_widened_enum_is_breaking_because_consumers_branch_on_it():
    widened = Literal["pre_transit", "in_transit", "held_by_customs", "out_for_delivery", "delivery_failed",
                      "delivered", "returned", "unknown", "lost"]
    breaking = changes(ParcelTracking, status=(widened, ...)).breaking
    assert breaking == ["data.status: enum value 'lost' added (consumers branch on this field)"]


def test_optional_made_required_is_breaking():
    assert changes(OrderCancelled, reason=(Reason, ...)).breaking == ["data.reason: optional property made required"]


def test_required_made_optional_with_a_default_is_additive():
    result = changes(OrderCancelled, merchant_code=(Annotated[str, Field(min_length=1, max_length=64)], "unknown"))
    assert result.breaking == [] and result.additive == ["data.merchant_code: now optional, default 'unknown'"]


def test_a_field_that_may_now_be_null_is_breaking():
    result = changes(OrderCancelled, reason=(Reason | None, None))
    assert result.breaking == ["data.reason: may now be null (consumers expect a value)"]


def test_a_tightened_max_length_is_breaking_and_a_loosened_one_additive():
    tightened = changes(OrderCancelled, reason=(Annotated[str, Field(max_length=256)], ""))
    assert tightened.breaking == ["data.reason: maxLength tightened: 512 → 256"]
    loosened = changes(OrderCancelled, reason=(Annotated[str, Field(max_length=1024)], ""))
    assert loosened.breaking == [] and loosened.additive == ["data.reason: maxLength loosened: 512 → 1024"]


def test_a_change_inside_a_shared_model_is_reported_at_every_place_it_is_used():
    old = event_schema(OrderAccepted)
    new = copy.deepcopy(old)
    new["$defs"]["Party"]["properties"]["phone"]["pattern"] = r"^\+[0-9]{6,15}$"
    new["$defs"]["OrderLine"]["properties"]["line_no"]["maximum"] = 50
    assert compare(old, new).breaking == [
        "data.parcel.buyer.phone: pattern changed: '^\\\\+[0-9]{6,15}$'",
        "data.parcel.consignee.phone: pattern changed: '^\\\\+[0-9]{6,15}$'",
        "data.parcel.lines[].line_no: maximum tightened: 100 → 50",
        "data.parcel.sender.phone: pattern changed: '^\\\\+[0-9]{6,15}$'",
    ]


def test_additional_properties_and_descriptions():
    old = event_schema(OrderCancelled)
    opened = copy.deepcopy(old)
    opened["$defs"]["OrderCancelled"]["additionalProperties"] = True
    assert compare(old, opened).breaking == ["data: additionalProperties changed: False → True"]
    described = copy.deepcopy(old)
    described["$defs"]["OrderCancelled"]["properties"]["reason"]["description"] = "Why the merchant cancelled."
    assert compare(old, described).compatible
    assert compare(old, described).additive == ["data.reason: description changed"]


def test_refs_are_resolved_so_renaming_a_shared_model_changes_nothing():
    old = event_schema(OrderAccepted)
    renamed = json.loads(json.dumps(old).replace('"#/$defs/Party"', '"#/$defs/Person"'))
    renamed["$defs"]["Person"] = renamed["$defs"].pop("Party")
    assert compare(old, renamed).breaking == [] and compare(old, renamed).additive == []


def test_the_committed_schemas_are_compatible_with_the_current_models():
    assert check_compatibility(CONTRACT_DIR, ALL_EVENTS) == []


def test_a_breaking_model_needs_a_new_version(tmp_path):
    export(tmp_path)
    edited = variant(OrderCancelled, drop=("reason",))
    errors = check_compatibility(tmp_path, [edited])
    assert len(errors) == 1
    assert errors[0].startswith("silkgate.orders.order.cancelled.v1: data.reason: property removed")
    assert "VERSION = 2" in errors[0]
    assert check_compatibility(tmp_path, [variant(OrderCancelled, drop=("reason",), version=2)]) == []


def test_export_refuses_to_overwrite_a_schema_with_a_breaking_change(tmp_path, capsys):
    export(tmp_path)
    path = tmp_path / "schemas" / f"{OrderCancelled.event_type()}.json"
    committed = json.loads(path.read_text())
    committed["$defs"]["OrderCancelled"]["properties"]["reason"]["maxLength"] = 1024  # the model now has 512
    path.write_text(json.dumps(committed))
    assert run_export(str(tmp_path)) == 1
    assert "data.reason: maxLength tightened: 1024 → 512" in capsys.readouterr().err
    assert json.loads(path.read_text()) == committed
    assert run_export(str(tmp_path), check=True) == 1
