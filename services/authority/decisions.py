"""The sandbox authority's decisions, as pure functions: what it answers a filing, the numbers it assigns, and the
receipts each step plans."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.authority.settings import AuthoritySettings, Rule
from shared.ceb.fields import CHINA_TIME

FILING_KINDS = ("CEB621", "CEB603", "CUSITM", "EXPMANIFEST")  # what customs clears: these get a decision
ORDER_KINDS = ("CEB311", "CEB303")  # the order documents: acknowledged (2 → 120)
CANCEL_KINDS = {"CEB623": "CEB621", "CEB605": "CEB603"}  # cancel → the list kind it cancels
RETURN_KINDS = {"CEB625": "CEB621"}
ANSWER_KINDS = ("REVIEWANSWER", "INSPECTIONRECORD")

INFO = {
    2: "declaration received; in the customs system's queue",
    120: "accepted into the customs system",
    300: "manual review: customs asks for an explanation or documents (answer with REVIEWANSWER)",
    500: "inspection ordered: present the goods (record it with INSPECTIONRECORD)",
    399: "review concluded",
    800: "released",
    100: "rejected: the declaration does not pass customs' checks",
    899: "closed",
    700: "return approved",
}


@dataclass(frozen=True)
class Decision:
    """The answer to a filing after its 120, and what follows a failed inspection."""

    answer: int  # 800, 300, 500 or 100
    failed_answer: int = 100
    info: str | None = None


def matches(rule: Rule, *, kind: str, order_no: str | None, hs_codes: Sequence[str]) -> bool:
    if rule.message_type and rule.message_type != kind:
        return False
    if rule.order_no_prefix and not (order_no or "").startswith(rule.order_no_prefix):
        return False
    return not (rule.hs_prefix and not any(code.startswith(rule.hs_prefix) for code in hs_codes))


def decide(settings: AuthoritySettings, *, guid: str, kind: str, order_no: str | None,
           hs_codes: Sequence[str]) -> Decision:
    """The first matching rule, else a draw seeded by (seed, guid): the same message always gets the same answer,
    whatever order messages arrive in."""
    for rule in settings.rules:
        if matches(rule, kind=kind, order_no=order_no, hs_codes=hs_codes):
            return Decision(rule.answer, rule.failed_answer, rule.info)
    draw = random.Random(f"{settings.seed}:{guid}").random()
    for answer, rate in ((100, settings.reject_rate), (300, settings.review_rate),
                         (500, settings.inspection_rate)):
        if draw < rate:
            return Decision(answer)
        draw -= rate
    return Decision(800)


def numbers(guid: str, *, kind: str, customs_code: str | None, at: datetime) -> tuple[str, str]:
    """The numbers customs gives an accepted list: preNo (B + date + 9 digits) and invtNo (customs code, year,
    I/E, 9 digits); derived from the guid so a replayed plan assigns the same ones."""
    serial = int(guid.replace("-", ""), 16) % 1_000_000_000
    local = at.astimezone(CHINA_TIME)
    flag = "E" if kind in ("CEB603", "CEB605") else "I"
    return f"B{local:%Y%m%d}{serial:09d}", f"{customs_code or '0000'}{local:%Y}{flag}{serial:09d}"


def info_for(status: int, decision: Decision | None = None) -> str:
    if decision is not None and decision.info and status in (decision.answer, decision.failed_answer):
        return decision.info
    if 501 <= status <= 599:
        return "detained after inspection"
    return INFO[status]


def filing_steps(settings: AuthoritySettings, decision: Decision) -> list[tuple[int, float]]:
    """(status, delay after the previous step) for a filing: 2, 120, then the decision; a release is final, a
    review or inspection waits for the broker's answer, a rejection waits for a corrected filing."""
    return [(2, settings.declaring_delay_s), (120, settings.accepted_delay_s),
            (decision.answer, settings.decision_delay_s)]


def conclusion_steps(settings: AuthoritySettings, *, passed: bool, failed_answer: int) -> list[tuple[int, float]]:
    """After a review answer or a passed inspection: 399 then 800; after a failed inspection: 100 or detention."""
    if passed:
        return [(399, settings.conclusion_delay_s), (800, settings.release_delay_s)]
    return [(failed_answer, settings.conclusion_delay_s)]


def state_after(status: int) -> str:
    """A case's state once `status` is its latest planned receipt."""
    return {800: "released", 300: "awaiting_review", 500: "awaiting_inspection", 100: "rejected", 899: "closed",
            700: "returned"}.get(status, "detained" if 501 <= status <= 599 else "open")
