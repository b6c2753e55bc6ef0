"""Risk rules, the green lane, and the decision they add up to (DESIGN.md flow step 3).

Each rule is a pure function returning a list of Finding. `assess` runs them all and scores the findings by
severity weight (policy.severity_weights, default info 0, low 10, medium 25, high 50, prohibited 100);
`decide` turns score and findings into release, manual review, inspection or reject.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, NamedTuple

from services.customs.domain.hs import hs_chapter, hs_heading, is_well_formed, normalize_hs
from services.customs.domain.matching import normalize_id, normalize_text
from services.customs.domain.money import ZERO, cny_exact, to_cny
from services.customs.domain.policy import CustomsPolicy
from services.customs.domain.tax import is_single_indivisible, taxable_value_cny
from shared.contract.events import Finding
from shared.contract.parcel import Parcel

Decision = Literal["release", "manual_review", "inspection", "reject"]
Lane = Literal["green", "standard"]

_WORDS = re.compile(r"[^\W\d_]+")  # letters only, in any script


class PriorDeclaration(NamedTuple):
    """One of the same buyer's recent declarations, for the split-purchase rule."""

    declared_at: datetime
    value_cny: Decimal


@dataclass(frozen=True)
class Assessment:
    """All findings on a declaration, their score, the decision and the queue lane."""

    findings: tuple[Finding, ...]
    score: int
    decision: Decision
    lane: Lane


def _finding(code: str, severity: str, message: str, fields: list[str] | None = None) -> Finding:
    return Finding(code=code, severity=severity, message=message[:512], fields=fields or [])


def hs_chapter_invalid(parcel: Parcel, policy: CustomsPolicy) -> list[Finding]:
    """Lines whose HS code is malformed or names no HS chapter (01–97 except 77, DOMAIN.md §8)."""
    findings = []
    for line in parcel.lines:
        field = f"lines[{line.line_no}].hs_code"
        if not is_well_formed(line.hs_code, min_digits=policy.hs_min_digits, max_digits=policy.hs_max_digits):
            message = f"HS code {line.hs_code!r} must be {policy.hs_min_digits}–{policy.hs_max_digits} digits"
            findings.append(_finding("hs_chapter_invalid", "high", message, [field]))
        elif hs_chapter(line.hs_code) not in policy.valid_hs_chapters:
            message = f"HS chapter {hs_chapter(line.hs_code)} does not exist"
            findings.append(_finding("hs_chapter_invalid", "high", message, [field]))
    return findings


def hs_prohibited(parcel: Parcel, policy: CustomsPolicy) -> list[Finding]:
    """Lines in a prohibited chapter (93 arms and ammunition) or under a prohibited heading prefix."""
    findings = []
    for line in parcel.lines:
        code = normalize_hs(line.hs_code)
        prefix = next((p for p in policy.prohibited_hs_prefixes if code.startswith(p)), None)
        if hs_chapter(code) in policy.prohibited_chapters or prefix:
            message = f"HS {code} is prohibited ({'chapter ' + code[:2] if prefix is None else 'heading ' + prefix})"
            findings.append(_finding("hs_prohibited", "prohibited", message, [f"lines[{line.line_no}].hs_code"]))
    return findings


def value_over_channel_limit(parcel: Parcel, policy: CustomsPolicy) -> list[Finding]:
    """Imports over the channel's limit: mail personal articles, e-commerce single transaction (DOMAIN.md §2)."""
    if parcel.direction != "import":
        return []
    single = is_single_indivisible(parcel)
    if parcel.channel == "mail":
        hmt = parcel.sender.country in policy.hmt_regions
        limit = policy.personal_article_limit_hmt_cny if hmt else policy.personal_article_limit_cny
        value = to_cny(parcel.goods_value, parcel.currency, policy)
        # A single indivisible article may still clear as personal after an officer's review; more must be goods.
        severity = "medium" if single else "high"
    elif parcel.channel == "ecommerce":
        limit = policy.ecommerce_transaction_limit_cny
        value = taxable_value_cny(parcel, policy)
        # A single indivisible item over the limit is allowed and taxed at general-trade rates (DOMAIN.md §7).
        severity = "info" if single else "high"
    else:
        return []  # express: the value chooses category B/C/D, there is no ceiling to exceed
    if value <= limit:
        return []
    message = f"value {value} CNY over the {parcel.channel} limit {limit} CNY" + (" (single item)" if single else "")
    return [_finding("value_over_channel_limit", severity, message, ["goods_value"])]


def annual_limit(parcel: Parcel, *, annual_total_cny: Decimal, policy: CustomsPolicy) -> list[Finding]:
    """E-commerce imports that take the buyer over 26,000 CNY a year must go through general trade (§7)."""
    if parcel.channel != "ecommerce" or parcel.direction != "import":
        return []
    total = annual_total_cny + taxable_value_cny(parcel, policy)
    if total <= policy.ecommerce_annual_limit_cny:
        return []
    message = f"buyer's annual total {total} CNY over {policy.ecommerce_annual_limit_cny} CNY"
    return [_finding("annual_limit_exceeded", "high", message, ["buyer"])]


def undervaluation(parcel: Parcel, policy: CustomsPolicy) -> list[Finding]:
    """Lines priced under a fraction (default 30%) of the reference price for their HS heading."""
    findings = []
    for line in parcel.lines:
        reference = policy.reference_prices.get(hs_heading(line.hs_code))
        if reference is None:
            continue
        per = line.net_weight_kg if reference.per == "kg" else line.quantity
        price = cny_exact(line.total_price, line.currency, policy) / per
        if price < reference.price_cny * policy.undervaluation_ratio:
            message = (
                f"line {line.line_no}: {price:.2f} CNY per {reference.per} against a reference of "
                f"{reference.price_cny} CNY for heading {hs_heading(line.hs_code)}"
            )
            findings.append(_finding("undervaluation", "high", message, [f"lines[{line.line_no}].unit_price"]))
    return findings


def vague_description(parcel: Parcel, policy: CustomsPolicy) -> list[Finding]:
    """Lines described only in words like "gift", "goods" or "parts", which name no goods."""
    findings = []
    for line in parcel.lines:
        words = _WORDS.findall(normalize_text(line.name))
        if all(word in policy.vague_words for word in words):
            message = f"line {line.line_no}: description {line.name!r} does not say what the goods are"
            # Medium: goods that are not named cannot be classified or valued, so a broker must look.
            findings.append(_finding("vague_description", "medium", message, [f"lines[{line.line_no}].name"]))
    return findings


def split_purchases(
    *,
    channel: str,
    value_cny: Decimal,
    recent: Iterable[PriorDeclaration | tuple[datetime, Decimal]],
    now: datetime,
    policy: CustomsPolicy,
) -> list[Finding]:
    """A buyer's parcels inside the window that each stay under the limit but together exceed it.

    Only imports: the limits a buyer would dodge by splitting (personal articles, express C, the B2C transaction
    limit) are China's import limits; `assess` applies the rule to imports only.
    """
    threshold = policy.split_thresholds_cny.get(channel)
    if threshold is None:
        return []
    since = now - timedelta(hours=policy.split_window_hours)
    values = [value_cny] + [value for at, value in recent if since <= at <= now]
    if len(values) < 2 or sum(values, ZERO) <= threshold or any(v > threshold for v in values):
        return []  # one parcel over the limit is value_over_channel_limit's business, not splitting
    message = (
        f"{len(values)} parcels worth {sum(values, ZERO)} CNY within {policy.split_window_hours} h, "
        f"each under {threshold} CNY"
    )
    return [_finding("split_purchases", "high", message, ["buyer"])]


def watchlist(parcel: Parcel, policy: CustomsPolicy) -> list[Finding]:
    """Consignee or buyer whose name or ID number is on the watchlist."""
    names, ids = _normalized_watchlist(policy.watchlist_names, policy.watchlist_id_numbers)
    findings = []
    parties = {"consignee": parcel.consignee, "buyer": parcel.buyer}
    for role, party in parties.items():
        if party is None:
            continue
        fields = [f"{role}.name"] if normalize_text(party.name) in names else []
        if party.id_number and normalize_id(party.id_number) in ids:
            fields.append(f"{role}.id_number")
        if fields:
            findings.append(_finding("watchlist", "high", f"{role} is on the watchlist", fields))
    return findings


@functools.lru_cache(maxsize=32)
def _normalized_watchlist(names: frozenset[str], id_numbers: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    """The watchlist as compared: normalized once per policy (policies are immutable), not once per parcel."""
    return frozenset(normalize_text(n) for n in names), frozenset(normalize_id(i) for i in id_numbers)


def sample_point(declaration_id: str) -> float:
    """A stable point in [0, 1) from the declaration id (first 8 bytes of its SHA-256)."""
    digest = hashlib.sha256(declaration_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def random_inspection_sample(declaration_id: str, policy: CustomsPolicy) -> list[Finding]:
    """Deterministic random sampling: the same declaration is always (or never) sampled, even on redelivery."""
    if sample_point(declaration_id) >= policy.random_inspection_rate:
        return []
    return [_finding("random_inspection_sample", "info", "selected by random inspection sampling")]


def lane(parcel: Parcel, policy: CustomsPolicy) -> Lane:
    """Green for agricultural goods (HS 01–24) wholly from KZ, KG or TJ (DOMAIN.md §1, §8), else standard."""
    green = all(
        hs_chapter(line.hs_code) in policy.green_channel_chapters
        and line.origin_country in policy.green_channel_countries
        for line in parcel.lines
    )
    return "green" if green else "standard"


def score_findings(findings: Iterable[Finding], policy: CustomsPolicy) -> int:
    """Sum of the findings' severity weights."""
    return sum(policy.severity_weights.get(f.severity, 0) for f in findings)


def decide(score: int, findings: Sequence[Finding], policy: CustomsPolicy) -> Decision:
    """Reject on anything prohibited or invalid; inspect on a sample or a high score; review on a medium one."""
    codes = {f.code for f in findings}
    if any(f.severity == "prohibited" for f in findings) or codes & policy.reject_codes:
        return "reject"
    if codes & policy.inspection_codes or score >= policy.inspection_score:
        return "inspection"
    if score >= policy.manual_review_score:
        return "manual_review"
    return "release"


def assess(
    parcel: Parcel,
    *,
    declaration_id: str,
    policy: CustomsPolicy,
    now: datetime,
    recent: Iterable[PriorDeclaration | tuple[datetime, Decimal]] = (),
    annual_total_cny: Decimal = ZERO,
    extra_findings: Iterable[Finding] = (),
) -> Assessment:
    """Run every risk rule, score the findings (plus e.g. match findings) and decide; raises UnknownCurrency."""
    # Split purchases are measured in the value the channel's limit is on: transaction value for e-commerce.
    if parcel.channel == "ecommerce":
        value_cny = taxable_value_cny(parcel, policy)
    else:
        value_cny = to_cny(parcel.goods_value, parcel.currency, policy)
    findings = [
        *hs_chapter_invalid(parcel, policy),
        *hs_prohibited(parcel, policy),
        *value_over_channel_limit(parcel, policy),
        *annual_limit(parcel, annual_total_cny=annual_total_cny, policy=policy),
        *undervaluation(parcel, policy),
        *vague_description(parcel, policy),
        *(split_purchases(channel=parcel.channel, value_cny=value_cny, recent=recent, now=now, policy=policy)
          if parcel.direction == "import" else ()),
        *watchlist(parcel, policy),
        *random_inspection_sample(declaration_id, policy),
        *extra_findings,
    ]
    total = score_findings(findings, policy)
    return Assessment(tuple(findings), total, decide(total, findings, policy), lane(parcel, policy))


def hold_for_documents(assessment: Assessment, match_findings: Sequence[Finding], policy: CustomsPolicy) -> Assessment:
    """Mismatching documents alone hold a declaration for a broker's review; they do not send goods to inspection.

    A disagreement between order, payment and waybill (DOMAIN.md §6) is a paperwork question a broker resolves
    with the parties; two of them would otherwise add up to the inspection score. Inspection still follows when
    the other findings call for it by themselves.
    """
    if not match_findings or assessment.decision != "inspection":
        return assessment
    others = [f for f in assessment.findings if f not in match_findings]
    if decide(score_findings(others, policy), others, policy) == "inspection":
        return assessment
    return replace(assessment, decision="manual_review")
