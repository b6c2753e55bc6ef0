"""Declaration statuses, the actions that move them, and what the customs authority's receipts do to them.

Who decides what (DOMAIN.md §11): silkgate's pre-filing rules and its brokers decide *what is filed and when*;
the customs authority decides release. So no action here leads to `released`: only an 800 receipt does.

    pending_documents ─(documents in, clean)─> filed ──120──> accepted ──800──> released ──899──> closed
          │ deadline                 ▲  │         300 manual_review / 500 inspection / 5xx detained / 399
          ▼                          │  └──100──> authority_rejected ─(amend, file again: appType 2)─┘
    documents_missing ─(request)─> pending_documents
    held (pre-filing findings) ─(amend, file)─> filed;  held / documents_missing / authority_rejected ─> rejected
    order cancelled: before filing → cancelled; after filing → cancel_requested (CEB623/605) → cancelled on 899
    return after release: return_requested (CEB625) → returned on 700

Released (until closed or returned), rejected, cancelled, closed and returned are final for brokers: no broker
action leaves them, so a redelivered event or a second click can never undo a decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, get_args

from services.customs.domain.errors import TransitionNotAllowed, UnknownStatus
from shared.contract.events import CustomsStatus

Action = Literal[
    "hold",  # system: pre-filing findings need a broker
    "file",  # system (clean declaration) or broker: the messages go to the authority
    "documents_overdue",  # system: the documents deadline passed
    "request_documents",  # broker: ask the parties again; a new deadline starts
    "amend",  # broker: lines, HS codes, descriptions, values (status unchanged)
    "answer",  # broker: answers the authority's manual review (300)
    "record_inspection",  # broker: attendance and outcome of the authority's inspection (500)
    "reject",  # system (prohibited goods) or broker: the declaration will not be filed (again)
    "cancel",  # the order was cancelled before filing (saga compensation), or a broker cancels it
    "request_cancel",  # the order was cancelled after filing: CEB623/605 goes to the authority
    "request_return",  # the merchant asked for a return after release: CEB625 goes to the authority
    "receipt",  # the authority's receipt (see after_receipt)
]

STATUSES: tuple[str, ...] = get_args(CustomsStatus)
ACTIONS: tuple[str, ...] = get_args(Action)

# Broker actions, as the API and the console offer them.
BROKER_ACTIONS = ("amend", "file", "request_documents", "answer", "record_inspection", "reject", "cancel")

SAVED, DECLARING, SENT = 1, 2, 3  # CEB returnStatus of a declaration not yet (or being) filed (DOMAIN.md §5)
REJECTED, ACCEPTED, REVIEW, REVIEW_CONCLUDED, INSPECTION, RETURNED, RELEASED, CLOSED = (
    100, 120, 300, 399, 500, 700, 800, 899)
DETENTION_CODES = range(501, 600)  # 501–599 detained; the second and third digit may carry a reason
DEFAULT_DETENTION_CODE = 501

# The CEB code a status reports when nothing more specific is known.
CEB_CODES: Mapping[str, int] = MappingProxyType({
    "pending_documents": SAVED,
    "documents_missing": SAVED,
    "held": SAVED,
    "filed": DECLARING,
    "accepted": ACCEPTED,
    "manual_review": REVIEW,
    "review_concluded": REVIEW_CONCLUDED,
    "inspection": INSPECTION,
    "detained": DEFAULT_DETENTION_CODE,
    "authority_rejected": REJECTED,
    "released": RELEASED,
    "closed": CLOSED,
    "rejected": REJECTED,
    "cancel_requested": DECLARING,
    "cancelled": CLOSED,
    "return_requested": DECLARING,
    "returned": RETURNED,
})

# With the authority, after filing: the statuses its receipts on the declaration's filing move between.
FILED_STATUSES = frozenset({"filed", "accepted", "manual_review", "review_concluded", "inspection", "detained",
                            "authority_rejected"})
BEFORE_FILING = frozenset({"pending_documents", "documents_missing", "held"})
FINAL_STATUSES = frozenset({"released", "rejected", "cancelled", "closed", "returned"})
# What a person has to act on: the brokers' queue lists these (manual review and inspection until answered).
BROKER_STATUSES = frozenset({"documents_missing", "held", "manual_review", "inspection", "detained",
                             "authority_rejected"})

# Filed and waiting on the authority alone (its next receipt), not on a broker: the exchange's backlog.
AWAITING_AUTHORITY = FILED_STATUSES - BROKER_STATUSES

_BROKER_CAN_END = {"reject": "rejected", "cancel": "cancelled"}

# Allowed transitions: status → {action: next status}. Anything absent is not allowed. Receipts are handled by
# after_receipt, not here.
TRANSITIONS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "pending_documents": MappingProxyType({
        "file": "filed", "hold": "held", "documents_overdue": "documents_missing", "reject": "rejected",
        "cancel": "cancelled",
    }),
    "documents_missing": MappingProxyType({"request_documents": "pending_documents", **_BROKER_CAN_END}),
    "held": MappingProxyType({"amend": "held", "file": "filed", "hold": "held", **_BROKER_CAN_END}),
    "filed": MappingProxyType({"request_cancel": "cancel_requested"}),
    "accepted": MappingProxyType({"request_cancel": "cancel_requested"}),
    "manual_review": MappingProxyType({"answer": "manual_review", "request_cancel": "cancel_requested"}),
    "review_concluded": MappingProxyType({"request_cancel": "cancel_requested"}),
    # Goods under inspection or detained stay with customs until the authority decides: a merchant's
    # cancellation cannot take them back.
    "inspection": MappingProxyType({"record_inspection": "inspection"}),
    "detained": MappingProxyType({"answer": "detained"}),
    "authority_rejected": MappingProxyType({"amend": "authority_rejected", "file": "filed", **_BROKER_CAN_END}),
    "released": MappingProxyType({"request_return": "return_requested"}),
    "closed": MappingProxyType({"request_return": "return_requested"}),
    "cancel_requested": MappingProxyType({}),
    "return_requested": MappingProxyType({}),
    "rejected": MappingProxyType({}),
    "cancelled": MappingProxyType({}),
    "returned": MappingProxyType({}),
})


def allowed_actions(current: str) -> frozenset[str]:
    """The actions allowed from a status."""
    try:
        return frozenset(TRANSITIONS[current])
    except KeyError:
        raise UnknownStatus(f"unknown customs status {current!r}") from None


def broker_actions(current: str, *, needs_broker: bool) -> list[str]:
    """What a broker can do now: nothing once the declaration waits on the authority (an answer already sent)."""
    actions = [a for a in BROKER_ACTIONS if a in allowed_actions(current)]
    if not needs_broker:
        actions = [a for a in actions if a not in ("answer", "record_inspection")]
    return actions


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
    """True when no broker action can change the status any more."""
    return status in FINAL_STATUSES


def needs_broker(status: str) -> bool:
    """A declaration entering this status waits for a broker (manual review and inspection until answered)."""
    return status in BROKER_STATUSES


def ceb_code(status: str) -> int:
    """The CEB returnStatus a status reports by default."""
    try:
        return CEB_CODES[status]
    except KeyError:
        raise UnknownStatus(f"unknown customs status {status!r}") from None


# ── the authority's receipts ───────────────────────────────────────────────

MessagePurpose = Literal["declaration", "order", "cancel", "return", "answer"]


def status_for_code(code: int) -> str | None:
    """The status a receipt on the declaration's filing reports; None for transport codes (1–4). A negative code
    is a processing error: the filing was not taken, a broker must correct it and file again."""
    if code < 0:
        return "authority_rejected"
    if code in DETENTION_CODES:
        return "detained"
    return {ACCEPTED: "accepted", REVIEW: "manual_review", REVIEW_CONCLUDED: "review_concluded",
            INSPECTION: "inspection", REJECTED: "authority_rejected", RELEASED: "released",
            CLOSED: "closed"}.get(code)


# Final answers on a filing, weakest first: a later, stronger final wins (100 then 800: released), never back.
_FINAL_RANK = {REJECTED: 1, RELEASED: 2, CLOSED: 3}


def is_final_code(code: int) -> bool:
    """100 rejected, 800 released, 899 closed, and processing errors (negative): the authority's last word on a
    filing, unless a stronger one follows."""
    return code < 0 or code in _FINAL_RANK


def _final_rank(code: int) -> int:
    return _FINAL_RANK[REJECTED] if code < 0 else _FINAL_RANK[code]


def supersedes(incoming: tuple[int, str], current: tuple[int, str] | None) -> bool:
    """Whether a receipt (code, returnTime as YYYYMMDDhhmmssSSS) moves a filing that last applied `current`.

    DOMAIN.md §11: receipts arrive late, twice or out of order; the highest-ranked final status wins and nothing
    goes backwards. Among intermediate answers the later returnTime wins (a review may turn into an inspection);
    nothing intermediate follows a final answer; a final only gives way to a stronger final.
    """
    code, at = incoming
    if current is None:
        return True
    current_code, current_at = current
    if (code, at) == (current_code, current_at):
        return False  # the same receipt again
    if is_final_code(current_code):
        return is_final_code(code) and _final_rank(code) > _final_rank(current_code)
    if is_final_code(code):
        return True
    return at > current_at


def after_receipt(current: str, *, purpose: MessagePurpose, code: int) -> str | None:
    """The declaration's status after a receipt that supersedes the last one (None: the status stays).

    `purpose` says which message the receipt answers: the declaration (CEB621/603, the mail or express filing),
    its order (CEB311/303: only a rejection matters), a cancellation (623/605), a return (625) or a broker's answer.
    """
    if purpose == "declaration":
        if current not in FILED_STATUSES | {"cancel_requested", "released", "closed"}:
            return None
        target = status_for_code(code)
        if target is None:
            return None
        if current in ("released", "closed"):
            return "closed" if target == "closed" else None  # 899 closes; nothing else moves a release back
        if current == "cancel_requested" and target not in ("released", "closed"):
            return None  # waiting for the cancellation's answer; only a release overtakes it
        return target
    if purpose == "order":
        return "authority_rejected" if code == REJECTED and current in FILED_STATUSES else None
    if purpose == "cancel" and current == "cancel_requested":
        # The authority approves a cancellation by closing the filing (899); 100 refuses it.
        return "cancelled" if code == CLOSED else None
    if purpose == "return" and current == "return_requested":
        return "returned" if code == RETURNED else None
    return None
