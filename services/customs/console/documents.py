"""The documents side by side: order, payment and waybill, one column each, one row per field they share, and the
rows where they disagree highlighted.

Which fields disagree is the three-document match's answer (filing.documents_for over the documents received, plus
the match findings stored when the declaration was assessed), never a comparison of the console's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from pydantic import ValidationError

from services.customs.console.masking import mask_value
from services.customs.domain.errors import UnknownCurrency
from services.customs.domain.matching import DOCUMENTS, needs_three_document_match
from services.customs.filing import documents_for
from services.customs.models import Declaration
from services.customs.repository import DocumentBody
from services.customs.schemas import DocumentView, FindingView
from services.customs.service import CustomsConfig, parcel_of

log = structlog.get_logger()

Extract = Callable[[dict[str, Any]], Any]


def _get(body: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body


def _first(*values: Any) -> Any:
    return next((v for v in values if v not in (None, "")), None)


def _joined(*values: Any) -> str | None:
    parts = [str(v) for v in values if v not in (None, "")]
    return " ".join(parts) if parts else None


def _buyer(body: dict[str, Any]) -> dict[str, Any]:
    return _get(body, "parcel", "buyer") or _get(body, "parcel", "consignee") or {}


@dataclass(frozen=True)
class RowSpec:
    """A field the documents share: how each kind of document gives it, whether it is personal data (and of which
    kind, for masking), and the match's field names that point at it."""

    key: str
    extract: dict[str, Extract]
    personal: str | None = None
    match_fields: tuple[str, ...] = ()


ROWS: tuple[RowSpec, ...] = (
    RowSpec("order_no", {"order": lambda b: _get(b, "parcel", "merchant_order_no"),
                         "waybill": lambda b: b.get("merchant_order_no")}, match_fields=("waybill.order_no",)),
    RowSpec("order_id", {kind: (lambda b: b.get("order_id")) for kind in ("order", "payment", "waybill")},
            match_fields=("waybill.order_id", "payment.order_id")),
    RowSpec("consignee_name", {"order": lambda b: _get(b, "parcel", "consignee", "name"),
                               "waybill": lambda b: _get(b, "consignee", "name")},
            personal="name", match_fields=("consignee.name",)),
    RowSpec("consignee_phone", {"order": lambda b: _get(b, "parcel", "consignee", "phone"),
                                "waybill": lambda b: _get(b, "consignee", "phone")},
            personal="phone", match_fields=("consignee.phone",)),
    RowSpec("consignee_address", {"order": lambda b: _get(b, "parcel", "consignee", "address"),
                                  "waybill": lambda b: _get(b, "consignee", "address")},
            personal="address", match_fields=("consignee.address",)),
    RowSpec("consignee_city", {"order": lambda b: _joined(_get(b, "parcel", "consignee", "postal_code"),
                                                          _get(b, "parcel", "consignee", "city")),
                               "waybill": lambda b: _joined(_get(b, "consignee", "postal_code"),
                                                            _get(b, "consignee", "city"))},
            match_fields=("consignee.city", "consignee.postal_code")),
    RowSpec("consignee_country", {"order": lambda b: _get(b, "parcel", "consignee", "country"),
                                  "waybill": lambda b: _get(b, "consignee", "country")},
            match_fields=("consignee.country",)),
    RowSpec("buyer_name", {"order": lambda b: _buyer(b).get("name"),
                           "payment": lambda b: _get(b, "payment", "payer_name")},
            personal="name", match_fields=("payment.payer_name",)),
    RowSpec("buyer_id_type", {"order": lambda b: _buyer(b).get("id_type"),
                              "payment": lambda b: _get(b, "payment", "payer_id_type")},
            match_fields=("payment.payer_id_type",)),
    RowSpec("buyer_id_number", {"order": lambda b: _buyer(b).get("id_number"),
                                "payment": lambda b: _get(b, "payment", "payer_id_number")},
            personal="id_number", match_fields=("payment.payer_id_number",)),
    RowSpec("amount_paid", {"order": lambda b: _joined(_get(b, "parcel", "amount_paid"), _get(b, "parcel", "currency")),
                            "payment": lambda b: _joined(_get(b, "payment", "amount"), _get(b, "payment", "currency"))},
            match_fields=("payment.amount", "order.amount_paid", "payment.currency")),
    RowSpec("transaction", {"order": lambda b: _joined(_get(b, "parcel", "payment", "provider"),
                                                       _get(b, "parcel", "payment", "transaction_id")),
                            "payment": lambda b: _joined(_get(b, "payment", "provider"),
                                                         _get(b, "payment", "transaction_id"))}),
    RowSpec("tracking_number", {"waybill": lambda b: _first(b.get("tracking_number"), b.get("logistics_no"))}),
    RowSpec("carrier", {"order": lambda b: _get(b, "parcel", "carrier"),
                        "waybill": lambda b: _first(b.get("carrier"), b.get("logistics_code"))}),
)


@dataclass(frozen=True)
class DocumentColumn:
    kind: str
    source: str
    received_at: datetime


@dataclass(frozen=True)
class ComparisonRow:
    key: str
    values: list[Any]  # one per column; None where that document does not carry the field
    disagrees: bool
    personal: bool


@dataclass(frozen=True)
class DocumentComparison:
    columns: list[DocumentColumn]
    rows: list[ComparisonRow]
    missing: list[str] = field(default_factory=list)  # kinds not received yet
    match_unavailable: bool = False  # the documents could not be read for the match (shown, not highlighted)


def disagreeing_fields(declaration: Declaration, documents: Sequence[DocumentView], findings: Sequence[FindingView],
                       config: CustomsConfig) -> tuple[set[str], bool]:
    """The match's field names at fault: from the stored match findings and from the match over the documents now
    received. The second item is False when the documents could not be read for the match."""
    fields = {name for finding in findings if finding.source in ("match", "prefiling") and
              finding.code.endswith("_mismatch") for name in finding.fields}
    bodies = [DocumentBody(d.kind, d.source, d.body) for d in documents]
    try:
        result = documents_for(declaration, parcel_of(declaration), bodies, config)
    except (ValidationError, UnknownCurrency, KeyError, TypeError, ValueError) as exc:
        log.info("console.match_unavailable", declaration_id=declaration.id, error=type(exc).__name__)
        return fields, False
    return fields | {name for finding in result.findings for name in finding.fields}, True


def compare_documents(declaration: Declaration, documents: Sequence[DocumentView], findings: Sequence[FindingView],
                      config: CustomsConfig, *, reveal: bool) -> DocumentComparison:
    """Every document received, side by side; personal values masked unless `reveal`."""
    columns = [DocumentColumn(d.kind, d.source, d.received_at) for d in documents]
    at_fault, matched = disagreeing_fields(declaration, documents, findings, config)
    rows = []
    for spec in ROWS:
        values = []
        for document in documents:
            extract = spec.extract.get(document.kind)
            value = extract(document.body) if extract else None
            if spec.personal and not reveal:
                value = mask_value(spec.personal, value)
            values.append(value)
        if all(value is None for value in values):
            continue
        rows.append(ComparisonRow(spec.key, values, disagrees=bool(at_fault & set(spec.match_fields)),
                                  personal=spec.personal is not None))
    received = {d.kind for d in documents}
    # Mail and express need no payment document (no three-document match): nothing is missing for them.
    expected = DOCUMENTS if needs_three_document_match(declaration.channel) else ("order", "waybill")
    missing = [kind for kind in expected if kind not in received]
    return DocumentComparison(columns, rows, missing=missing, match_unavailable=not matched)
