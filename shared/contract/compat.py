"""Is a new event schema a compatible evolution of the committed one, or does it need a new `.v<N+1>` type?

A versioned event type makes two promises to the consumers that already exist:

1. Every message valid under the old schema stays valid under the new one. Streams keep old messages and
   consumers replay them, and a producer not yet upgraded keeps sending the old shape — so nothing may be
   *narrowed*: no property removed or renamed, no new required property, no optional property made required,
   no type changed, no enum value removed, no constraint tightened (shorter maxLength, higher minimum, a new or
   changed pattern or format), no change to `additionalProperties`.
2. Every value an existing consumer can receive still means what it meant. A widening the consumer can
   *ignore* is additive: a new optional property, a constraint loosened (a longer string, a wider range — the
   same code path handles it), a required property that becomes optional with a default (pydantic fills the
   default, so the consumer still sees a value of the same type), a description or title changed.
   A widening the consumer *cannot* ignore is breaking: a new enum value or `const`, a new type in a union,
   a property that may now be null. Consumers branch on enums (orders maps customs and tracking statuses onto
   the order's status, postal routes by channel), so a new value is a meaning their code has no arm for; the
   new version is how each consumer opts in to it.

Rollout of an additive change: contract models forbid unknown properties, so consumers are upgraded before the
producer starts sending the new property (or they validate with `extra="ignore"`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.contract.events import Event

# Keywords that annotate a schema without constraining what it accepts.
_ANNOTATIONS = {"title", "description", "default", "examples", "$comment", "deprecated", "readOnly", "writeOnly"}
# Keywords handled explicitly below; any other keyword that changes is reported as breaking, to be safe.
_UPPER = {"maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum"}
_LOWER = {"minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum"}
_STRUCTURE = {"$ref", "anyOf", "oneOf", "type", "enum", "const", "properties", "required",
              "additionalProperties", "items", "$defs", "definitions", "$schema", "$id"}
_VALUE_FREE = {"pattern", "format", "multipleOf", "uniqueItems"}


@dataclass
class Compatibility:
    """The differences between two schemas, each a human-readable `path: what changed`."""

    breaking: list[str] = field(default_factory=list)
    additive: list[str] = field(default_factory=list)

    @property
    def compatible(self) -> bool:
        return not self.breaking


def compare(old_schema: dict[str, Any], new_schema: dict[str, Any]) -> Compatibility:
    """Classify every difference between the committed (old) and the generated (new) schema."""
    result = Compatibility()
    _Comparison(old_schema, new_schema, result).node(old_schema, new_schema, "$")
    return result


def check_compatibility(committed_dir: Path | str, models: Iterable[type[Event]]) -> list[str]:
    """Errors for each event model whose schema breaks the committed schema of the same versioned type."""
    from shared.contract.export import event_schema  # export imports this module

    errors: list[str] = []
    for model in models:
        path = Path(committed_dir) / "schemas" / f"{model.event_type()}.json"
        if not path.exists():
            continue  # a new event type (or a new version) is always allowed
        try:
            committed = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            errors.append(f"{model.event_type()}: the committed schema {path} is not JSON ({error})")
            continue
        for change in compare(committed, event_schema(model)).breaking:
            errors.append(
                f"{model.event_type()}: {change} — a breaking change needs a new event type "
                f"(a model with VERSION = {model.VERSION + 1}, subject ….v{model.VERSION + 1}), not an edit of this one"
            )
    return errors


class _Comparison:
    def __init__(self, old_root: dict[str, Any], new_root: dict[str, Any], result: Compatibility) -> None:
        self.roots = (old_root, new_root)
        self.result = result
        self.open: set[tuple[str, str]] = set()  # pairs of $refs being compared, against recursive models

    def breaking(self, path: str, what: str) -> None:
        self.result.breaking.append(f"{path}: {what}")

    def additive(self, path: str, what: str) -> None:
        self.result.additive.append(f"{path}: {what}")

    def node(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        with self.entering(old.get("$ref"), new.get("$ref")) as fresh:
            if fresh:
                self.resolved(_resolve(self.roots[0], old), _resolve(self.roots[1], new), path)

    @contextmanager
    def entering(self, old_ref: str | None, new_ref: str | None) -> Iterator[bool]:
        """False when this pair of models is already being compared further up (a recursive model)."""
        refs = (old_ref or "", new_ref or "")
        if not all(refs):
            yield True
        elif refs in self.open:
            yield False
        else:
            self.open.add(refs)
            try:
                yield True
            finally:
                self.open.discard(refs)

    def resolved(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        if old.get("description") != new.get("description") and path != "$":
            self.additive(path, "description changed")
        old_variants, new_variants = _variants(self.roots[0], old), _variants(self.roots[1], new)
        self.nullability("null" in old_variants, "null" in new_variants, path)
        for kind in sorted(old_variants.keys() - new_variants.keys() - {"null"}):
            self.breaking(path, f"no longer accepts {kind}")
        for kind in sorted(new_variants.keys() - old_variants.keys() - {"null"}):
            self.breaking(path, f"now also {kind} (consumers do not expect it)")
        for kind in sorted(old_variants.keys() & new_variants.keys() - {"null"}):
            label = path if len(old_variants) == 1 else f"{path} ({kind})"
            with self.entering(old_variants[kind].get("x-ref"), new_variants[kind].get("x-ref")) as fresh:
                if fresh:
                    self.variant(old_variants[kind], new_variants[kind], label, path)

    def nullability(self, old_null: bool, new_null: bool, path: str) -> None:
        if old_null and not new_null:
            self.breaking(path, "no longer accepts null")
        elif new_null and not old_null:
            self.breaking(path, "may now be null (consumers expect a value)")

    def variant(self, old: dict[str, Any], new: dict[str, Any], label: str, path: str) -> None:
        self.values(old, new, label)
        self.bounds(old, new, label)
        for key in sorted(_VALUE_FREE):
            if old.get(key) == new.get(key):
                continue
            if key in new:
                self.breaking(label, f"{key} {'changed' if key in old else 'added'}: {new[key]!r}")
            else:
                self.additive(label, f"{key} {old[key]!r} removed")
        if old.get("type") == "object" or "properties" in old or "properties" in new:
            self.object(old, new, path)
        if "items" in old or "items" in new:
            self.node(old.get("items", {}), new.get("items", {}), f"{path}[]")
        handled = _ANNOTATIONS | _UPPER | _LOWER | _STRUCTURE | _VALUE_FREE
        for key in sorted((old.keys() | new.keys()) - handled):
            if not key.startswith("x-") and old.get(key) != new.get(key):
                self.breaking(label, f"{key} changed: {old.get(key)!r} → {new.get(key)!r}")

    def values(self, old: dict[str, Any], new: dict[str, Any], label: str) -> None:
        """Enums and consts: removing a value narrows, adding one is a meaning consumers do not handle."""
        old_values, new_values = _allowed(old), _allowed(new)
        if old_values is None and new_values is None:
            return
        if new_values is None:
            self.breaking(label, f"no longer restricted to {sorted(old_values, key=repr)}")
        elif old_values is None:
            self.breaking(label, f"now restricted to {sorted(new_values, key=repr)}")
        else:
            for value in sorted(old_values - new_values, key=repr):
                self.breaking(label, f"enum value {value!r} removed")
            for value in sorted(new_values - old_values, key=repr):
                self.breaking(label, f"enum value {value!r} added (consumers branch on this field)")

    def bounds(self, old: dict[str, Any], new: dict[str, Any], label: str) -> None:
        for key in sorted(_UPPER | _LOWER):
            before, after = old.get(key), new.get(key)
            if before == after:
                continue
            tighter = after is not None and (before is None or (after < before if key in _UPPER else after > before))
            if tighter:
                self.breaking(label, f"{key} tightened: {before} → {after}")
            else:
                self.additive(label, f"{key} loosened: {before} → {after}")

    def object(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        prefix = "" if path == "$" else f"{path}."
        for name in sorted(old_props.keys() - new_props.keys()):
            self.breaking(f"{prefix}{name}", "property removed (or renamed)")
        for name in sorted(new_props.keys() - old_props.keys()):
            if name in new_required:
                self.breaking(f"{prefix}{name}", "new required property")
            else:
                self.additive(f"{prefix}{name}", "new optional property")
        for name in sorted(old_props.keys() & new_props.keys()):
            if name in new_required and name not in old_required:
                self.breaking(f"{prefix}{name}", "optional property made required")
            elif name in old_required and name not in new_required:
                self.additive(f"{prefix}{name}", f"now optional, default {new_props[name].get('default')!r}")
            self.node(old_props[name], new_props[name], f"{prefix}{name}")
        old_extra, new_extra = old.get("additionalProperties", True), new.get("additionalProperties", True)
        if isinstance(old_extra, dict) and isinstance(new_extra, dict):
            self.node(old_extra, new_extra, f"{prefix}{{*}}")
        elif old_extra != new_extra:
            self.breaking(path, f"additionalProperties changed: {old_extra!r} → {new_extra!r}")


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow local `$ref`s (`#/$defs/…`, `#/components/schemas/…`); keywords beside a $ref are kept."""
    while "$ref" in node:
        target: Any = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _variants(root: dict[str, Any], node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The alternatives of a node by the kind of value each accepts: `X | None` → {kind of X, "null"}."""
    options = node.get("anyOf") or node.get("oneOf")
    if not options:
        return _by_kind(node)
    out: dict[str, dict[str, Any]] = {}
    for option in options:
        resolved = {**_resolve(root, option), "x-ref": option["$ref"]} if "$ref" in option else option
        for kind, variant in _by_kind(resolved).items():
            out[kind if kind not in out else f"{kind} {variant.get('title', len(out))}"] = variant
    return out


def _by_kind(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    kind = node.get("type")
    if isinstance(kind, list):
        return {k: {**node, "type": k} for k in kind}
    if kind is None:
        if "properties" in node:
            kind = "object"
        elif "enum" in node or "const" in node:
            kind = "enum"
        else:
            kind = "any"
    return {kind: node}


def _allowed(node: dict[str, Any]) -> set[Any] | None:
    if "const" in node:
        return {_hashable(node["const"])}
    if "enum" in node:
        return {_hashable(value) for value in node["enum"]}
    return None


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value
