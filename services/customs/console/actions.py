"""The console's actions: one registry maps an action name to its form fields and the service function it calls.

The declaration's `allowed_actions` (brokers.summary, the API's own view) decides which actions a broker sees; the
registry only says how to ask for each one and which use case runs it — the same function the API's endpoint
calls, with the API's own body model, so the console has no rules of its own. Labels live in catalogue.yaml under
`action.<name>`, `field.<name>`, `reason.<code>` and `option.<field>.<value>`.

Adding an action when the status model gains one is adding an entry here (and its labels to the catalogue).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from services.customs import broker_actions, brokers
from services.customs.repository import DeclarationRepository
from services.customs.schemas import (
    REASON_CODES,
    AmendBody,
    AnswerBody,
    CancelBody,
    FileBody,
    InspectionBody,
    RejectBody,
    RequestDocumentsBody,
)
from services.customs.service import CustomsConfig, Emitter
from shared.auth import Principal
from shared.errors import InvalidInput, invalid_input_from, validation_errors

FieldKind = Literal["reason", "note", "choice", "number", "text", "lines"]
# The columns a "lines" field lets a broker amend (the lines table shows the others read-only).
AMENDABLE_LINE_COLUMNS = ("hs_code", "name", "quantity", "unit_price", "total_price")


@dataclass(frozen=True)
class FormField:
    """One input of an action's form. `options`: the values a reason or choice may take (labels in the catalogue)."""

    name: str
    kind: FieldKind
    required: bool = False
    options: tuple[str, ...] = ()
    default: str | None = None
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class ActionCall:
    """What an action's service function needs: the transaction's repository and outbox, and who acts."""

    repo: DeclarationRepository
    config: CustomsConfig
    declaration_id: str
    principal: Principal
    emit: Emitter


Runner = Callable[[ActionCall, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class ConsoleAction:
    """An action a broker takes from the declaration page."""

    name: str
    run: Runner
    fields: tuple[FormField, ...] = ()
    tone: Literal["primary", "danger", "neutral"] = "neutral"
    shortcut: str | None = None  # one key on the declaration page (see static/console.js)
    claim_action: bool = False  # shown from the claim's state, not from allowed_actions

    @property
    def reason_field(self) -> FormField | None:
        return next((f for f in self.fields if f.kind == "reason"), None)


def note(required: bool = False) -> FormField:
    return FormField("note", "note", required=required)


def reason(*codes: str) -> FormField:
    return FormField("reason_code", "reason", required=True, options=codes)


def body_of(model: type[BaseModel], values: Mapping[str, Any]) -> Any:
    """The API's body model built from the form's values: its validation is the API's, errors name the field."""
    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise invalid_input_from(validation_errors(list(exc.errors()))) from None


# ── the service functions each action calls (the API's, with the API's bodies) ──

async def _claim(call: ActionCall, values: dict[str, Any]) -> Any:
    return await brokers.claim(call.repo, call.config, call.declaration_id, call.principal)


async def _unclaim(call: ActionCall, values: dict[str, Any]) -> Any:
    return await brokers.unclaim(call.repo, call.config, call.declaration_id, call.principal)


def _use_case(function: Callable[..., Awaitable[Any]], body: type[BaseModel], *, emits: bool = True) -> Runner:
    async def run(call: ActionCall, values: dict[str, Any]) -> Any:
        extra = {"emit": call.emit} if emits else {}
        return await function(call.repo, call.config, call.declaration_id, call.principal,
                              body=body_of(body, values), **extra)

    return run


async def _answer(call: ActionCall, values: dict[str, Any]) -> Any:
    """The REVIEWANSWER: the explanation, and document references given one per line as "kind: reference"."""
    documents = []
    for line in (values.pop("document_references", "") or "").splitlines():
        kind, _, reference = line.partition(":")
        if line.strip():
            documents.append({"kind": kind.strip() if reference else "other",
                              "reference": (reference or kind).strip()})
    body = body_of(AnswerBody, {**values, "documents": documents})
    return await broker_actions.answer(call.repo, call.config, call.declaration_id, call.principal, body=body)


# ── the registry ──

ACTIONS: dict[str, ConsoleAction] = {action.name: action for action in (
    ConsoleAction("claim", _claim, tone="primary", shortcut="c", claim_action=True),
    ConsoleAction("unclaim", _unclaim, shortcut="u", claim_action=True),
    # "f" moves a declaration forward: the broker files it with the customs authority, which decides release.
    ConsoleAction("file", _use_case(broker_actions.file, FileBody), tone="primary", shortcut="f", fields=(
        reason(*REASON_CODES["file"]), note())),
    ConsoleAction("amend", _use_case(broker_actions.amend, AmendBody, emits=False), tone="primary", fields=(
        FormField("lines", "lines"), reason(*REASON_CODES["amend"]), note())),
    ConsoleAction("answer", _answer, tone="primary", fields=(
        reason(*REASON_CODES["answer"]), FormField("explanation", "note", required=True),
        FormField("document_references", "note"))),
    ConsoleAction("record_inspection", _use_case(broker_actions.record_inspection, InspectionBody, emits=False),
                  tone="primary", fields=(
                      FormField("attended_by", "text", required=True), FormField("attended_at", "text", required=True),
                      FormField("outcome", "choice", required=True, options=("passed", "failed")), note())),
    ConsoleAction("request_documents", _use_case(broker_actions.request_documents, RequestDocumentsBody), fields=(
        reason(*REASON_CODES["request_documents"]), note())),
    ConsoleAction("cancel", _use_case(broker_actions.cancel, CancelBody), tone="danger", fields=(
        reason(*REASON_CODES["cancel"]), note())),
    ConsoleAction("reject", _use_case(broker_actions.reject_declaration, RejectBody), tone="danger", fields=(
        reason(*REASON_CODES["reject"]), note(required=True))),
)}

# Why a broker asks to see a declaration's personal data (the request goes on the audit trail).
REVEAL_REASONS = ("verify_identity", "documents_disagree", "authority_request")


@dataclass(frozen=True)
class ActionPanel:
    """What the declaration page offers: claim or give back, the allowed actions, and any it cannot show."""

    claim: ConsoleAction | None
    actions: list[ConsoleAction] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)  # allowed by the model, not in the registry


def action_panel(allowed_actions: list[str], *, final: bool, held_by_me: bool, held_by_other: bool) -> ActionPanel:
    """The actions to show for a declaration, from its allowed actions and its claim."""
    claim = None
    if held_by_me:
        claim = ACTIONS["unclaim"]
    elif not final and not held_by_other:
        claim = ACTIONS["claim"]
    actions = [ACTIONS[name] for name in allowed_actions if name in ACTIONS and not ACTIONS[name].claim_action]
    # Registry order (forward actions first), not the alphabetical order of allowed_actions.
    order = list(ACTIONS)
    actions.sort(key=lambda action: order.index(action.name))
    unavailable = [name for name in allowed_actions if name not in ACTIONS]
    return ActionPanel(claim=claim, actions=actions, unavailable=unavailable)


def read_form(action: ConsoleAction, form: Mapping[str, Any]) -> dict[str, Any]:
    """The action's values from a submitted form: blanks are absent, choices must be offered ones, numbers numbers.

    The body model then applies the API's own rules; this only turns a form into the values a body is made of.
    """
    values: dict[str, Any] = {}
    for spec in action.fields:
        if spec.kind == "lines":
            values[spec.name] = read_lines(form, spec.name)
            continue
        raw = form.get(spec.name)
        raw = raw.strip() if isinstance(raw, str) else None
        if not raw:
            if spec.required:
                raise InvalidInput(f"{spec.name} is required", code="field_required", field=spec.name)
            continue
        if spec.kind in ("reason", "choice") and raw not in spec.options:
            raise InvalidInput(f"{spec.name} must be one of {', '.join(spec.options)}", code="value_not_allowed",
                               field=spec.name)
        if spec.kind == "number":
            try:
                values[spec.name] = int(raw)
            except ValueError:
                raise InvalidInput(f"{spec.name} must be a whole number", code="format_invalid",
                                   field=spec.name) from None
            continue
        values[spec.name] = raw
    return values


def read_lines(form: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    """Amended lines from inputs named `<name>-<line_no>-<column>`, one dict per line, by line number."""
    lines: dict[int, dict[str, Any]] = {}
    for key, raw in form.items():
        parts = key.split("-")
        if len(parts) != 3 or parts[0] != name or parts[2] not in AMENDABLE_LINE_COLUMNS:
            continue
        if not parts[1].isdigit():
            raise InvalidInput(f"{key} names no line", code="format_invalid", field=key)
        value = raw.strip() if isinstance(raw, str) else ""
        if not value:
            continue  # a blank input leaves the column as it is
        if parts[2] in ("quantity", "unit_price", "total_price"):
            try:
                value = Decimal(value)
            except InvalidOperation:
                raise InvalidInput(f"{key} must be an amount", code="format_invalid", field=key) from None
        lines.setdefault(int(parts[1]), {"line_no": int(parts[1])})[parts[2]] = value
    return [lines[line_no] for line_no in sorted(lines)]
