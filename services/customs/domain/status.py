"""Customs declaration statuses, their CEB receipt codes (DOMAIN.md §5) and the actions that move them.

Released, rejected, cancelled and closed are final: no broker action leaves them, so a redelivered event
or a second click can never undo a decision (the caller catches TransitionNotAllowed and answers with the
recorded decision).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, get_args

from services.customs.domain.errors import TransitionNotAllowed, UnknownStatus
from shared.contract.events import CustomsStatus

Action = Literal[
    "refer_to_review",  # system: the risk decision holds the declaration for a broker
    "release",
    "reject",
    "inspect",
    "detain",
    "record_inspection_result",  # the inspection is done; the broker then releases, detains or rejects
    "cancel",  # the order was cancelled (saga compensation, DESIGN.md flow)
    "close",  # system: a released declaration is closed (结关)
]

STATUSES: tuple[str, ...] = get_args(CustomsStatus)
ACTIONS: tuple[str, ...] = get_args(Action)
DEFAULT_DETENTION_CODE = 501
DETENTION_CODES = range(501, 600)  # 501–599 detained; the second and third digit may carry a reason

# CEB returnStatus per status (DOMAIN.md §5). CEB has no code for a withdrawn declaration: customs closes the
# inventory list once the cancel request (CEB623) is approved, so "cancelled" reports 899, like "closed";
# the status name keeps the difference.
CEB_CODES: Mapping[str, int] = MappingProxyType({
    "rejected": 100,
    "accepted": 120,
    "manual_review": 300,
    "review_concluded": 399,
    "inspection": 500,
    "detained": DEFAULT_DETENTION_CODE,
    "released": 800,
    "closed": 899,
    "cancelled": 899,
})

_HOLD_ACTIONS = {"release": "released", "reject": "rejected", "inspect": "inspection", "detain": "detained"}

# Allowed transitions: status → {action: next status}. Anything absent is not allowed.
TRANSITIONS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "accepted": MappingProxyType({**_HOLD_ACTIONS, "refer_to_review": "manual_review", "cancel": "cancelled"}),
    "manual_review": MappingProxyType({**_HOLD_ACTIONS, "cancel": "cancelled"}),
    "review_concluded": MappingProxyType({**_HOLD_ACTIONS, "cancel": "cancelled"}),
    # Goods under inspection or detained stay with customs until a broker decides: a merchant's
    # cancellation cannot take them back, and release needs the inspection result recorded first.
    "inspection": MappingProxyType(
        {"record_inspection_result": "review_concluded", "detain": "detained", "reject": "rejected"}
    ),
    "detained": MappingProxyType({"release": "released", "reject": "rejected", "inspect": "inspection"}),
    "released": MappingProxyType({"close": "closed"}),
    "rejected": MappingProxyType({}),
    "cancelled": MappingProxyType({}),
    "closed": MappingProxyType({}),
})

FINAL_STATUSES = frozenset({"released", "rejected", "cancelled", "closed"})

# The risk decision (risk.decide) as the action that applies it to a freshly accepted declaration.
DECISION_ACTIONS: Mapping[str, str] = MappingProxyType(
    {"release": "release", "manual_review": "refer_to_review", "inspection": "inspect", "reject": "reject"}
)


def allowed_actions(current: str) -> frozenset[str]:
    """The actions allowed from a status."""
    try:
        return frozenset(TRANSITIONS[current])
    except KeyError:
        raise UnknownStatus(f"unknown customs status {current!r}") from None


def next_status(current: str, action: str) -> str:
    """The status an action leads to; raises TransitionNotAllowed when the current status forbids it."""
    if action not in ACTIONS:
        raise TransitionNotAllowed(current, action)
    try:
        return TRANSITIONS[current][action]
    except KeyError:
        if current not in TRANSITIONS:
            raise UnknownStatus(f"unknown customs status {current!r}") from None
        raise TransitionNotAllowed(current, action) from None


def is_final(status: str) -> bool:
    """True when no broker decision can change the status any more (released is closed only by the system)."""
    return status in FINAL_STATUSES


def ceb_code(status: str, *, detention_code: int | None = None) -> int:
    """The CEB returnStatus for a status; a detention may carry a reason-specific code in 501–599."""
    if status not in CEB_CODES:
        raise UnknownStatus(f"unknown customs status {status!r}")
    if detention_code is None:
        return CEB_CODES[status]
    if status != "detained" or detention_code not in DETENTION_CODES:
        raise UnknownStatus(f"CEB code {detention_code} is not a detention code for status {status!r}")
    return detention_code


def status_for_ceb_code(code: int) -> str:
    """The status a CEB receipt code reports (899 reads as closed; 501–599 as detained)."""
    if code in DETENTION_CODES:
        return "detained"
    for status, value in CEB_CODES.items():
        if value == code:
            return status
    raise UnknownStatus(f"CEB receipt code {code} has no customs status")


def action_for_decision(decision: str) -> str:
    """The action that applies a risk decision (release, manual_review, inspection, reject)."""
    try:
        return DECISION_ACTIONS[decision]
    except KeyError:
        raise UnknownStatus(f"unknown risk decision {decision!r}") from None
