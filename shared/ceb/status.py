"""Customs receipt statuses (returnStatus, DOMAIN.md §5) and their ranking.

One filing gets several receipts over time (2 → 120 → 800) and they can arrive late, twice or out of order. The
rule customs applies: **a receipt moves a filing only to a status of higher rank than the one it has; nothing goes
backwards**. Ranks are compared per filed message (per guid): an appType 2 re-filing after a 100 is a new message
with its own guid and starts from nothing again.

| rank | statuses | why there |
|---|---|---|
| -1 | negative (processing errors) | a notice to record, never a move |
| 1–4 | 1 saved, 2 declaring, 3 sent, 4 send failed | the transport's progress, before customs looked at it |
| 10 | 120 accepted into the customs system | customs took the filing |
| 20 | 300 manual review | customs asks a question … |
| 22 | 500 inspection | … or, more, wants to see the goods (an inspection may follow a review, not the reverse) |
| 25 | 501–599 detained | an inspection's result: the goods are held |
| 30 | 399 review concluded | the review or inspection is over: a late 300/500 cannot reopen it |
| 40 | 100 rejected | final for this filing (a correction is a new filing) |
| 50 | 800 released | final: customs lets the goods go |
| 60 | 899 closed, 700 returned | after release: the list is closed (cancel approved) or the goods were returned |
"""

from __future__ import annotations

STATUS_NAMES: dict[int, str] = {
    1: "saved", 2: "declaring", 3: "sent", 4: "send failed", 100: "rejected", 120: "accepted",
    300: "manual review", 399: "review concluded", 500: "inspection", 700: "returned", 800: "released",
    899: "closed",
}
_RANKS: dict[int, int] = {1: 1, 2: 2, 3: 3, 4: 4, 120: 10, 300: 20, 500: 22, 399: 30, 100: 40, 800: 50,
                          899: 60, 700: 60}
DETAINED = range(501, 600)


def is_known(status: int) -> bool:
    """A returnStatus of DOMAIN.md §5 (negative ones are processing errors, also known)."""
    return status < 0 or status in _RANKS or status in DETAINED


def describe(status: int) -> str:
    if status < 0:
        return "processing error"
    if status in DETAINED:
        return "detained"
    return STATUS_NAMES.get(status, "unknown")


def rank(status: int) -> int:
    """The status's rank (table above); ValueError for a status outside §5."""
    if status < 0:
        return -1
    if status in DETAINED:
        return 25
    try:
        return _RANKS[status]
    except KeyError:
        raise ValueError(f"{status} is not a customs return status") from None


def supersedes(new: int, current: int | None) -> bool:
    """True when a receipt with status `new` moves a filing whose latest applied status is `current`."""
    if rank(new) < 0:
        return False
    return current is None or rank(new) > rank(current)
