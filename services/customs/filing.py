"""Pre-filing and filing: silkgate decides what is filed with the customs authority, and when.

Once a declaration's documents are in, `evaluate` runs the three-document match, the controls and the risk rules:
a clean declaration is filed at once (`file_with_authority`: its quota reserved, its standard messages built,
signed and queued for the gateway), one with findings is held for a broker, prohibited goods are rejected. A
broker files a held declaration after amending it — through the same `file_with_authority`, so the controls that
stop a filing stop a broker too. The authority decides release (receipts.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

import structlog

from services.customs.domain.controls import blocking, controls
from services.customs.domain.errors import UnknownCurrency
from services.customs.domain.forms import select_form
from services.customs.domain.matching import WaybillDocument, match_documents, needs_three_document_match
from services.customs.domain.quota import limit_fen, quota_year, to_fen
from services.customs.domain.risk import Assessment, assess, decide, lane, score_findings
from services.customs.domain.tax import TaxAssessment, declaration_tax
from services.customs.models import Declaration
from services.customs.outgoing import FilingRefused, build_filing
from services.customs.repository import DeclarationRepository, DocumentBody
from services.customs.repository_quota import QuotaRepository
from services.customs.service import (
    SYSTEM,
    Actor,
    CustomsConfig,
    Emitter,
    parcel_of,
    status_event,
    transition,
)
from shared.contract.events import Finding, PaymentRecorded, WaybillIssued, WaybillRecorded
from shared.contract.parcel import OrderLine, Parcel, Payment

log = structlog.get_logger()

Outcome = Literal["file", "hold", "reject"]


@dataclass(frozen=True)
class DocumentsState:
    """What a declaration's documents say before filing: which are missing, where they disagree, the waybill."""

    missing: list[str]
    findings: list[Finding]
    waybill: WaybillDocument | None


def documents_for(declaration: Declaration, parcel: Parcel, documents: Sequence[DocumentBody],
                  config: CustomsConfig) -> DocumentsState:
    """The documents each party sent itself (DOMAIN.md §6).

    Every channel files with the logistics party's waybill (the S10 id of a mail item, the express waybill number,
    the e-commerce logisticsNo); e-commerce also needs the payment company's document and the three-document
    match. The payment document is only ever a payment company's (payment.recorded, sent with its own key): the
    payment a merchant's order carries is the order's claim, compared with it. The waybill is silkgate postal's
    waybill.issued, or — when the order names an external logistics company — that company's own
    waybill.recorded, never another's.
    """
    waybill = _waybill(parcel, documents)
    if not needs_three_document_match(declaration.channel):
        return DocumentsState([] if waybill else ["waybill"], [], waybill)
    payments = [d for d in documents if d.kind == "payment" and d.source == PaymentRecorded.event_type()]
    payment = payments[-1] if payments else None
    match = match_documents(
        order_id=declaration.order_id, parcel=parcel,
        payment=Payment.model_validate(payment.body["payment"]) if payment else None,
        waybill=waybill, policy=config.policy,
        payment_order_id=payment.body.get("order_id") if payment else None,
        require_identity=declaration.direction == "import",
    )
    return DocumentsState(match.missing, list(match.findings), waybill)


def _waybill(parcel: Parcel, documents: Sequence[DocumentBody]) -> WaybillDocument | None:
    waybills = [d for d in documents if d.kind == "waybill"]
    company = parcel.logistics_company
    if company:
        own = [d for d in waybills
               if d.source == WaybillRecorded.event_type() and d.body.get("logistics_code") == company]
        return WaybillDocument.from_recorded(own[-1].body) if own else None
    postal = [d for d in waybills if d.source == WaybillIssued.event_type()]
    return WaybillDocument.from_event(WaybillIssued.model_validate(postal[-1].body)) if postal else None


async def evaluate(repo: DeclarationRepository, config: CustomsConfig, declaration: Declaration, *,
                   emit: Emitter, parcel: Parcel | None = None) -> None:
    """Pre-filing, once every document is in: file, hold for a broker, or reject.

    `parcel` is the declaration's parcel when the caller has it already (else it is read from the declaration).
    """
    if declaration.status != "pending_documents":
        return  # decided already: never twice
    parcel = parcel or parcel_of(declaration)
    now = config.now()
    try:
        prefiling = await prefiling_findings(repo, config, declaration, parcel, lines=parcel.lines, now=now)
    except UnknownCurrency as exc:
        await reject_unknown_currency(repo, declaration, exc, now=now, emit=emit)
        return
    if prefiling is None:
        log.info("declaration.awaiting_documents")
        return
    assessment = assess_findings(parcel, prefiling.findings, config)
    outcome = prefiling_outcome(assessment)
    await repo.add_findings(declaration.id, list(assessment.findings), source="prefiling", now=now)
    if outcome == "reject":
        await reject(repo, declaration, assessment.findings, actor=SYSTEM, now=now, emit=emit,
                     values=prefiling.values)
        return
    if outcome == "file":
        refusal = await file_with_authority(repo, config, declaration, parcel=parcel, lines=parcel.lines,
                                            actor=SYSTEM, now=now, emit=emit, risk_score=assessment.score,
                                            values=prefiling.values)
        if refusal is None:
            return
        await repo.add_findings(declaration.id, refusal, source="prefiling", now=now)
        assessment = Assessment((*assessment.findings, *refusal), assessment.score, "manual_review", assessment.lane)
    await hold(repo, declaration, assessment, now=now, emit=emit, values=prefiling.values)


@dataclass(frozen=True)
class Prefiling:
    """What the pre-filing checks found, and the waybill's number (written with the decision that follows)."""

    findings: list[Finding]
    tracking_number: str | None

    @property
    def values(self) -> dict:
        return {"tracking_number": self.tracking_number} if self.tracking_number else {}


async def prefiling_findings(repo: DeclarationRepository, config: CustomsConfig, declaration: Declaration,
                             parcel: Parcel, *, lines: Sequence[OrderLine], now: datetime) -> Prefiling | None:
    """The match's, the controls' and the risk rules' findings on the declaration as it would be filed (its
    current lines); None while documents are still missing. Raises UnknownCurrency."""
    documents = documents_for(declaration, parcel, await repo.match_documents(declaration.order_id), config)
    if documents.missing:
        return None
    match_findings = documents.findings
    declared = parcel.model_copy(update={"lines": list(lines)}) if lines is not parcel.lines else parcel
    recent = []
    if declared.direction == "import":
        recent = await repo.buyer_history(buyer_key=declaration.buyer_key, channel=declaration.channel,
                                          since=split_window_start(config, now), exclude_id=declaration.id)
    reserved = 0
    if counts_annually(declaration.channel, declaration.direction):
        reserved = await QuotaRepository(repo.session).quota_reserved(buyer_key=declaration.buyer_key,
                                                                      year=quota_year(now))
    risk = assess(declared, declaration_id=declaration.id, policy=config.policy, now=now, recent=recent,
                  annual_total_cny=fen_to_cny(reserved))
    form = select_form(declared, config.policy)
    return Prefiling([*form.findings, *controls(declared, config.policy), *match_findings, *risk.findings],
                     documents.waybill.tracking_number if documents.waybill else None)


def fen_to_cny(fen: int) -> Decimal:
    return Decimal(fen) / 100


def assess_findings(parcel: Parcel, findings: Sequence[Finding], config: CustomsConfig) -> Assessment:
    """Score and decide over every finding (DOMAIN.md defaults in the policy)."""
    unique = list({(f.code, f.message, tuple(f.fields)): f for f in findings}.values())
    score = score_findings(unique, config.policy)
    return Assessment(tuple(unique), score, decide(score, unique, config.policy), lane(parcel, config.policy))


def prefiling_outcome(assessment: Assessment) -> Outcome:
    """Reject what may never be filed; hold for a broker what fails a control or scores a review; file the rest."""
    if assessment.decision == "reject":
        return "reject"
    if blocking(assessment.findings) or assessment.decision in ("manual_review", "inspection"):
        return "hold"
    return "file"


async def file_with_authority(repo: DeclarationRepository, config: CustomsConfig, declaration: Declaration, *,
                              parcel: Parcel, lines: Sequence[OrderLine], actor: Actor, now: datetime,
                              emit: Emitter, risk_score: int | None = None, reason_code: str | None = None,
                              note: str | None = None, values: dict | None = None) -> list[Finding] | None:
    """Reserve the buyer's quota, build and sign the declaration's messages, queue them for the gateway and mark
    the declaration filed (CEB 2, declaring). Returns the findings that refused the filing instead (nothing is
    written then): the annual quota exhausted, or a message field rule (DOMAIN.md §11) the declaration breaks.
    """
    declared = parcel.model_copy(update={"lines": list(lines)}) if lines is not parcel.lines else parcel
    form = select_form(declared, config.policy)  # amended lines may change the category
    tax = declaration_tax(declared, form=form.form, policy=config.policy,
                          annual_total_cny=fen_to_cny(await _reserved(repo, declaration, now)))
    app_type = 2 if declaration.filings else 1
    try:
        filing = await build_filing(repo, config, declaration, parcel=parcel, lines=lines, form=form.form,
                                    app_type=app_type, now=now,
                                    tracking_number=(values or {}).get("tracking_number") or declaration.tracking_number)
    except FilingRefused as refused:
        return [refused.finding]
    quota = await _reserve_quota(repo, config, declaration, tax, now=now)
    if quota is False:
        return [Finding(code="annual_limit_exceeded", severity="high", fields=["buyer"],
                        message=f"the buyer's {config.policy.ecommerce_annual_limit_cny} CNY annual quota for "
                                f"{quota_year(now)} has no room for {tax.taxable_value_cny} CNY")]
    values = {**(values or {}), "form": form.form, "value_cny": form.value_cny,
              "filing_guid": filing.guid, "filings": declaration.filings + 1, "filed_at": now,
              "last_receipt_code": None, "last_receipt_time": None, "tax_cny": tax.tax_cny, "tax_regime": tax.regime,
              "counts_towards_annual": tax.counts_towards_annual, **(quota or {})}
    if risk_score is not None:
        values["risk_score"] = risk_score
    await transition(repo, declaration, action="file", actor=actor, now=now, values=values,
                     reason_code=reason_code, note=note or f"{', '.join(filing.message_types)} queued (appType {app_type})")
    await repo.add_messages(list(filing.rows))
    await emit(status_event(declaration, now=now, actor=actor), declaration)
    log.info("declaration.filed", form=declaration.form, channel=declaration.channel, lane=declaration.lane,
             app_type=app_type, messages=filing.message_types, tax_cny=str(tax.tax_cny))
    return None


async def _reserved(repo: DeclarationRepository, declaration: Declaration, now: datetime) -> int:
    """What the buyer's quota holds this year without this declaration (its own reservation stays until given
    back, so a second filing of the same declaration is not counted twice)."""
    if not counts_annually(declaration.channel, declaration.direction):
        return 0
    reserved = await QuotaRepository(repo.session).quota_reserved(buyer_key=declaration.buyer_key,
                                                                  year=quota_year(now))
    return reserved - (declaration.quota_reserved_fen or 0)


async def _reserve_quota(repo: DeclarationRepository, config: CustomsConfig, declaration: Declaration,
                         tax: TaxAssessment, *, now: datetime) -> dict | bool | None:
    """Reserve the declaration's value in its buyer's year: the new columns, False when there is no room, None
    when nothing counts (not an e-commerce import, or taxed outside the B2C regime)."""
    if not (counts_annually(declaration.channel, declaration.direction) and tax.counts_towards_annual):
        return None
    year, fen = quota_year(now), to_fen(tax.taxable_value_cny)
    held = declaration.quota_reserved_fen or 0
    if declaration.quota_year == year and held:
        if fen <= held:
            return {}  # filed again for the same or less: the reservation already covers it
        fen -= held
    if not await QuotaRepository(repo.session).reserve_quota(buyer_key=declaration.buyer_key, year=year, fen=fen,
                                                             limit_fen=limit_fen(config.policy), now=now):
        return False
    return {"quota_year": year, "quota_reserved_fen": held + fen if declaration.quota_year == year else fen}


async def give_back_quota(repo: DeclarationRepository, declaration: Declaration, *, now: datetime) -> dict:
    """Release what the declaration holds of its buyer's quota; the columns to clear."""
    if not declaration.quota_reserved_fen or declaration.quota_year is None:
        return {}
    await QuotaRepository(repo.session).release_quota(buyer_key=declaration.buyer_key, year=declaration.quota_year,
                                                      fen=declaration.quota_reserved_fen, now=now)
    log.info("declaration.quota_released", year=declaration.quota_year, fen=declaration.quota_reserved_fen)
    return {"quota_reserved_fen": 0}


async def hold(repo: DeclarationRepository, declaration: Declaration, assessment: Assessment, *, now: datetime,
               emit: Emitter, values: dict | None = None) -> None:
    """Wait for a broker: the findings say why."""
    reason_code, reason = hold_reason(assessment)
    await transition(repo, declaration, action="hold", actor=SYSTEM, now=now, reason_code=reason_code, note=reason,
                     values={**(values or {}), "risk_score": assessment.score, "risk_decision": assessment.decision})
    await emit(status_event(declaration, now=now, actor=SYSTEM, reason=reason, reason_code=reason_code,
                            findings=assessment.findings), declaration)
    log.info("declaration.held", status=declaration.status, risk_score=assessment.score,
             findings=[f.code for f in assessment.findings], lane=declaration.lane)


async def reject(repo: DeclarationRepository, declaration: Declaration, findings: Sequence[Finding], *,
                 actor: Actor, now: datetime, emit: Emitter, reason_code: str | None = None,
                 note: str | None = None, values: dict | None = None) -> None:
    """Never filed (again): prohibited goods, or a broker's rejection; gives back the quota it held."""
    leading = _leading(findings)
    reason_code = reason_code or (leading.code if leading else "rejected")
    reason = note or (leading.message if leading else reason_code)
    values = {**(values or {}), **await give_back_quota(repo, declaration, now=now)}
    await transition(repo, declaration, action="reject", actor=actor, now=now, reason_code=reason_code, note=reason,
                     values=values)
    await emit(status_event(declaration, now=now, actor=actor, reason=reason, reason_code=reason_code,
                            findings=findings), declaration)
    log.warning("declaration.rejected", reason_code=reason_code, actor=actor.name)


async def reject_unknown_currency(repo: DeclarationRepository, declaration: Declaration, exc: UnknownCurrency, *,
                                  now: datetime, emit: Emitter) -> None:
    """No rate for a currency: the value cannot be assessed, so the declaration is rejected with a finding."""
    parcel = parcel_of(declaration)
    fields = ["currency"] if parcel.currency == exc.currency else []
    fields += [f"lines[{line.line_no}].currency" for line in parcel.lines if line.currency == exc.currency]
    finding = Finding(code="unknown_currency", severity="high", message=str(exc), fields=fields or ["currency"])
    await repo.add_findings(declaration.id, [finding], source="currency", now=now)
    await reject(repo, declaration, [finding], actor=SYSTEM, now=now, emit=emit)


def _leading(findings: Sequence[Finding]) -> Finding | None:
    ranked = sorted(findings, key=lambda f: _SEVERITY_RANK[f.severity], reverse=True)
    return ranked[0] if ranked else None


def hold_reason(assessment: Assessment) -> tuple[str, str]:
    """A stable reason code (the finding that weighs most) and a sentence a broker or merchant can read."""
    findings = assessment.findings
    stops = blocking(findings)
    leading = _leading(stops or findings)
    codes = list(dict.fromkeys(f.code for f in (stops or findings) if f.severity != "info"))
    if leading is None:
        return "held", "held for a broker's check before filing"
    return leading.code, f"held before filing: {', '.join(codes) or leading.code}"


_SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "prohibited": 4}


def counts_annually(channel: str, direction: str) -> bool:
    """Only e-commerce imports count towards the buyer's annual limit (DOMAIN.md §7)."""
    return channel == "ecommerce" and direction == "import"


def split_window_start(config: CustomsConfig, now: datetime) -> datetime:
    """Since when a buyer's other declarations count towards a split purchase."""
    return now - timedelta(hours=config.policy.split_window_hours)
