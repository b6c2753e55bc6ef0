"""Planning a taken message's receipts: its case, the receipts it plans, what it changes of earlier cases.

Messages are planned in the order they arrive, several in one transaction (services/authority/intake.py takes
what arrived together). Their new rows (cases, receipts, the messages themselves) are written together by a
`Batch`: before any query or update that could see them, and at the end; a declaration the batch's first look-up
found no live case for, and that no message of the batch has touched since, needs no look-up of its own. The answer
is the one planning each message alone, in the same order, would give.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.authority import repository
from services.authority.decisions import (
    ANSWER_KINDS,
    CANCEL_KINDS,
    FILING_KINDS,
    ORDER_KINDS,
    RETURN_KINDS,
    Decision,
    conclusion_steps,
    decide,
    filing_steps,
    info_for,
    numbers,
    state_after,
)
from services.authority.reading import Filing
from services.authority.settings import AuthoritySettings
from shared.ceb.fields import new_guid

log = structlog.get_logger()
# The kinds whose planning looks for a declaration's live cases (by copNo).
LOOKS_UP_DECLARATION = frozenset((*FILING_KINDS, *CANCEL_KINDS, *RETURN_KINDS))


class Refusal(Exception):
    """A message the authority cannot plan (raised before anything of it is written)."""

    def __init__(self, status: int, code: str, field: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.field, self.detail = status, code, field, detail


@dataclass(frozen=True)
class Planned:
    """What planning a message made: how many receipts, and the decision a filing got."""

    receipts: int
    decision: int | None = None


class Batch:
    """The writes of one intake transaction: new rows go together, and look-ups the batch can answer are skipped."""

    def __init__(self, session: AsyncSession, *, quiet: set[str] | None = None) -> None:
        self.session = session
        self.quiet = set(quiet or ())  # copNos with no live case: found so at the start, untouched since
        self.cases: list[dict[str, Any]] = []
        self.receipts: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.fresh: set[str] = set()  # cases created here that have no receipt yet

    async def flush(self) -> None:
        """Write the new rows (cases before their receipts; the messages in their order)."""
        if self.cases:
            await repository.add_cases(self.session, self.cases)
        await repository.add_receipts(self.session, self.receipts)
        if self.messages:
            await repository.add_messages(self.session, self.messages)
        self.cases, self.receipts, self.messages = [], [], []

    def add_message(self, row: dict[str, Any]) -> None:
        self.messages.append(row)

    def add_case(self, values: dict[str, Any]) -> None:
        self.cases.append(values)
        self.fresh.add(values["guid"])
        self.quiet.discard(values["cop_no"])

    def add_receipts(self, case_guid: str, rows: list[dict[str, Any]]) -> None:
        self.receipts.extend(rows)
        self.fresh.discard(case_guid)

    async def live_cases(self, *, cop_no: str, kinds: list[str]) -> list[Any]:
        if cop_no in self.quiet:
            return []
        await self.flush()
        return await repository.live_cases(self.session, cop_no=cop_no, kinds=kinds)

    async def get_case(self, guid: str) -> Any:
        await self.flush()
        return await repository.get_case(self.session, guid)

    async def last_step(self, case_guid: str) -> tuple[int, datetime | None]:
        if case_guid in self.fresh:
            return 0, None
        await self.flush()
        return await repository.last_step(self.session, case_guid)

    async def withdraw_pending(self, case_guid: str) -> None:
        await self.flush()
        self.quiet.clear()  # an update: whatever the batch knew of declarations is not taken for granted any more
        await repository.withdraw_pending(self.session, case_guid)

    async def set_case_state(self, guid: str, *, state: str, now: datetime) -> None:
        await self.flush()
        self.quiet.clear()
        await repository.set_case_state(self.session, guid, state=state, now=now)


async def plan(batch: Batch, settings: AuthoritySettings, filing: Filing, *, now: datetime) -> Planned:
    """Store the message's case and plan its receipts. Raises Refusal before writing anything."""
    if filing.kind in ORDER_KINDS:
        _new_case(batch, filing, now=now, state="done")
        return Planned(await _add_steps(batch, filing.guid, [(2, settings.declaring_delay_s, None),
                                                             (120, settings.accepted_delay_s, None)], now=now))
    if filing.kind in FILING_KINDS:
        return await _plan_filing(batch, settings, filing, now=now)
    if filing.kind in CANCEL_KINDS or filing.kind in RETURN_KINDS:
        return Planned(await _plan_cancel_or_return(batch, settings, filing, now=now))
    if filing.kind in ANSWER_KINDS:
        return Planned(await _plan_answer(batch, settings, filing, now=now))
    raise Refusal(422, "message_type_unknown", "Message.MessageHead.MessageType", f"{filing.kind} is not handled")


async def _plan_filing(batch: Batch, settings: AuthoritySettings, filing: Filing, *, now: datetime) -> Planned:
    live = await batch.live_cases(cop_no=filing.cop_no or "", kinds=[filing.kind])
    if filing.app_type == 1 and live:
        # Customs refuses a second "new" filing of a copNo it already has: a correction is a change (appType 2).
        _new_case(batch, filing, now=now, state="rejected", decision=100)
        info = "rejected: this copNo is already declared; file a change (appType 2)"
        return Planned(await _add_steps(batch, filing.guid, [(2, settings.declaring_delay_s, None),
                                                             (100, settings.accepted_delay_s, info)], now=now), 100)
    for case in live:  # a change or a delete replaces whatever the earlier filing was waiting for
        await batch.withdraw_pending(case.guid)
        await batch.set_case_state(case.guid, state="withdrawn", now=now)
    if filing.app_type == 3:
        _new_case(batch, filing, now=now, state="closed")
        return Planned(await _add_steps(batch, filing.guid, [(2, settings.declaring_delay_s, None),
                                                             (899, settings.accepted_delay_s, "declaration deleted")],
                                        now=now), 899)
    decision = decide(settings, guid=filing.guid, kind=filing.kind, order_no=filing.order_no,
                      hs_codes=filing.hs_codes)
    # Customs numbers an accepted inventory list (mail and express items keep their item id and waybill number).
    pre_no, invt_no = (numbers(filing.guid, kind=filing.kind, customs_code=filing.customs_code, at=now)
                       if filing.kind.startswith("CEB") else (None, None))
    _new_case(batch, filing, now=now, state=state_after(decision.answer), decision=decision.answer,
              failed_answer=decision.failed_answer, pre_no=pre_no, invt_no=invt_no)
    steps = [(status, delay, info_for(status, decision)) for status, delay in filing_steps(settings, decision)]
    return Planned(await _add_steps(batch, filing.guid, steps, now=now), decision.answer)


async def _plan_cancel_or_return(batch: Batch, settings: AuthoritySettings, filing: Filing, *,
                                 now: datetime) -> int:
    is_cancel = filing.kind in CANCEL_KINDS
    target_kind = CANCEL_KINDS.get(filing.kind) or RETURN_KINDS[filing.kind]
    live = await batch.live_cases(cop_no=filing.cop_no or "", kinds=[target_kind])
    target = live[0] if live else None
    refusal = None
    if target is None:
        refusal = "rejected: customs has no accepted inventory list with this copNo"
    elif target.invt_no != filing.invt_no:
        refusal = f"rejected: invtNo {filing.invt_no} is not the list's ({target.invt_no})"
    elif not is_cancel and target.state != "released":
        refusal = "rejected: only released goods can be returned"
    if refusal is not None:
        _new_case(batch, filing, now=now, state="rejected", decision=100)
        return await _add_steps(batch, filing.guid, [(2, settings.declaring_delay_s, None),
                                                     (100, settings.accepted_delay_s, refusal)], now=now)
    final = 899 if is_cancel else 700
    if is_cancel:  # the cancelled list's receipts still waiting (a release, a decision) are not sent any more
        await batch.withdraw_pending(target.guid)
    await batch.set_case_state(target.guid, state=state_after(final), now=now)
    _new_case(batch, filing, now=now, state=state_after(final), pre_no=target.pre_no, invt_no=target.invt_no)
    info = "cancellation approved" if is_cancel else "return approved"
    return await _add_steps(batch, filing.guid, [(2, settings.declaring_delay_s, None),
                                                 (final, settings.accepted_delay_s, info)], now=now)


async def _plan_answer(batch: Batch, settings: AuthoritySettings, filing: Filing, *, now: datetime) -> int:
    review = filing.kind == "REVIEWANSWER"
    waiting = "awaiting_review" if review else "awaiting_inspection"
    target = await batch.get_case(filing.answers_guid or "")
    if target is None or target.state != waiting:
        what = "a manual review (300)" if review else "an inspection (500)"
        raise Refusal(409, "no_review_pending" if review else "no_inspection_pending", "answers_guid",
                      f"filing {filing.answers_guid} is not waiting for an answer to {what}")
    if target.cop_no != filing.cop_no:
        raise Refusal(422, "cop_no_mismatch", "cop_no", f"filing {target.guid} is declaration {target.cop_no}")
    _new_case(batch, filing, now=now, state="done")
    planned = await _add_steps(batch, filing.guid, [(120, 0.0, "answer received")], now=now)
    passed = review or bool(filing.passed)
    steps = conclusion_steps(settings, passed=passed, failed_answer=target.failed_answer or 100)
    decision = Decision(target.decision or 800, target.failed_answer or 100)
    planned += await _add_steps(batch, target.guid, [(s, d, info_for(s, None if passed else decision))
                                                     for s, d in steps], now=now)
    await batch.set_case_state(target.guid, state=state_after(steps[-1][0]), now=now)
    log.info("authority.answer_taken", guid=target.guid, kind=filing.kind, passed=passed)
    return planned


def _new_case(batch: Batch, filing: Filing, *, now: datetime, state: str, decision: int | None = None,
              failed_answer: int | None = None, pre_no: str | None = None, invt_no: str | None = None) -> None:
    batch.add_case({
        "guid": filing.guid, "kind": filing.kind, "cop_no": filing.cop_no, "order_no": filing.order_no,
        "app_type": filing.app_type, "receipt_type": filing.receipt_type, "answered_type": filing.kind,
        "customs_code": filing.customs_code, "ebp_code": filing.ebp_code, "ebc_code": filing.ebc_code,
        "agent_code": filing.agent_code, "pre_no": pre_no or filing.pre_no, "invt_no": invt_no or filing.invt_no,
        "decision": decision, "failed_answer": failed_answer, "state": state, "created_at": now, "updated_at": now,
    })


async def _add_steps(batch: Batch, case_guid: str, steps: list[tuple[int, float, str | None]], *,
                     now: datetime) -> int:
    """Plan receipts after the case's last one: each `delay` seconds after the one before."""
    seq, last_due = await batch.last_step(case_guid)
    due = max(now, last_due) if last_due else now
    rows = []
    for status, delay, info in steps:
        seq += 1
        due = due + timedelta(seconds=delay)
        rows.append({"case_guid": case_guid, "seq": seq, "receipt_guid": new_guid(), "return_status": status,
                     "return_info": info or info_for(status), "due_at": due, "next_try_at": due, "attempts": 0,
                     "state": "planned"})
    batch.add_receipts(case_guid, rows)
    return len(rows)
