"""Which contract fields are personal data: marked on the models (`json_schema_extra={"x-personal": True}`, also
visible in the exported JSON Schemas), read here so the log processor (shared.logging) masks them by their mark."""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel

from shared.contract.parcel import (
    PERSONAL,  # noqa: F401 - the mark, re-exported
    ContractModel,
)


def is_personal(field: Any) -> bool:
    extra = field.json_schema_extra
    return isinstance(extra, dict) and extra.get("x-personal") is True


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models a field's annotation holds (Party, Party | None, list[Party] …)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models(arg)]


def personal_fields(model: type[BaseModel]) -> set[str]:
    return {name for name, field in model.model_fields.items() if is_personal(field)}


def _all_models() -> list[type[BaseModel]]:
    import shared.contract.events  # noqa: F401 - every contract model is defined once this is imported

    found: list[type[BaseModel]] = []
    pending: list[type] = [ContractModel]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def personal_field_names() -> frozenset[str]:
    """Every personal field's name, and `<field>_<personal field>` for each field holding a model with personal
    fields (consignee_phone, sender_name, payment_payer_name): the keys a log line may carry them under."""
    names: set[str] = set()
    for model in _all_models():
        names |= personal_fields(model)
        for field_name, field in model.model_fields.items():
            for inner in _models(field.annotation):
                names |= {f"{field_name}_{name}" for name in personal_fields(inner)}
    return frozenset(names)
