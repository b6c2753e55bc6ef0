"""API bodies of the documents endpoints, and the tax shown on an order."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contract.events import TaxBill

MAX_BATCH_DOCUMENTS = 100
OrderIdText = Annotated[str, Field(min_length=1, max_length=64)]


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssessedTax(Schema):
    """The tax customs assessed when it released the parcel, in CNY (DOMAIN.md §7)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "form": "inventory_list", "value_cny": "198.00", "tax_cny": "18.93", "released_at": "2026-03-01T02:21:13Z",
        "tax_bill": {"tax_no": "TX2026030100001", "invt_no": "I-2026-0001", "taxable_value_cny": "208.00",
                     "customs_duty_cny": "0.00", "vat_cny": "18.93", "consumption_tax_cny": "0.00",
                     "total_cny": "18.93", "issued_at": "2026-03-01T02:21:13Z",
                     "lines": [{"line_no": 1, "hs_code": "0409000000", "taxable_value_cny": "208.00",
                                "customs_duty_cny": "0.00", "vat_cny": "18.93", "consumption_tax_cny": "0.00"}]}}})

    form: str = Field(description="The customs form it was released on (CN22, CN23, express_A–D, inventory_list)")
    value_cny: Decimal = Field(description="The declared goods value customs assessed, in CNY")
    tax_cny: Decimal = Field(description="The tax due, in CNY (0: none, e.g. exports, documents, a waived tax)")
    released_at: datetime
    tax_bill: TaxBill | None = Field(
        None, description="E-commerce imports: the electronic tax bill's figures (CEB816): taxable value, customs "
                          "duty, VAT, consumption tax and total, per line too")


DocumentKind = Literal["labels", "customs-forms", "commercial-invoices"]


class BatchDocumentsRequest(Schema):
    """Up to 100 orders whose documents to print together."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "order_ids": ["ord_3f9c2a7be1d04c6a8e5f0b12", "ord_8b1e0c2d4f6a4b7c9d0e1f23"], "format": "pdf"}})

    order_ids: Annotated[list[OrderIdText], Field(min_length=1, max_length=MAX_BATCH_DOCUMENTS)]
    format: Literal["pdf", "zip"] = Field(
        "pdf", description="pdf: one PDF with every order's pages in the order given, or 422 naming each order "
                           "that has no such document yet (nothing printed); zip: the PDF of those that have one "
                           "and results.json with every order's outcome")


class BatchResultOut(Schema):
    """One order's outcome in a zip batch (results.json)."""

    index: int
    order_id: str
    status: Literal[200, 404, 409]
    pages: list[int] = Field(default_factory=list, description="Its pages in the PDF, from 1")
    problem: dict | None = None
