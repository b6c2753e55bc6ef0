"""The canonical parcel: one model for mail, express and e-commerce (the "three-in-one" order).

Shape only — structural limits (lengths, counts, positivity) live here so every service agrees;
the domain checks that need arithmetic or reference tables (HS codes, ISO lists, ID check
characters, totals) live in the orders service's rules and run at intake.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contract.carriers import carrier_description
from shared.contract.decimals import amount

Channel = Literal["mail", "express", "ecommerce"]
Direction = Literal["export", "import"]
# Customs supervision modes for cross-border e-commerce (DOMAIN.md §2).
TradeMode = Literal["9610", "9710", "9810", "1210"]
IdType = Literal["resident_id", "passport", "uscc", "other"]
# Mail products decide the S10 service indicator and CN22 (letter-post) vs CN23 (parcels).
MailProduct = Literal["letter", "registered_letter", "tracked_letter", "parcel", "ems", "insured"]
# Nature of the contents as on CN22/CN23; "documents" makes an express shipment category A.
ContentsType = Literal["documents", "gift", "commercial_sample", "merchandise", "returned_goods", "other"]

# At most 12 integer and 2 decimal digits; documented with its pattern in the OpenAPI documents.
Money = amount(12, 2)
PositiveMoney = amount(12, 2, positive=True)
CountryCode = Annotated[str, Field(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$")]
CurrencyCode = Annotated[str, Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")]
ShortText = Annotated[str, Field(min_length=1, max_length=128)]
LongText = Annotated[str, Field(min_length=1, max_length=512)]
# A registered partner's code (payment provider, logistics company): upper-case letters, digits, '-' and '_'.
PartnerCode = Annotated[str, Field(min_length=2, max_length=16, pattern=r"^[A-Z0-9][A-Z0-9_\-]{1,15}$")]


class ContractModel(BaseModel):
    """Base of every contract model: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# Marks a field as personal data: logs mask it wherever it appears (shared.contract.personal, shared.logging).
PERSONAL = {"x-personal": True}


class Party(ContractModel):
    """A sender, consignee or buyer as customs and the posts need them."""

    name: Annotated[ShortText, Field(json_schema_extra=PERSONAL)]
    phone: Annotated[str, Field(min_length=3, max_length=32, pattern=r"^\+?[0-9 ()\-]{3,32}$",
                                json_schema_extra=PERSONAL)]
    address: Annotated[LongText, Field(json_schema_extra=PERSONAL)]
    city: ShortText | None = None
    postal_code: Annotated[str, Field(max_length=16)] | None = None
    country: CountryCode
    email: Annotated[Annotated[str, Field(max_length=254)] | None, Field(json_schema_extra=PERSONAL)] = None
    id_type: IdType | None = None
    id_number: Annotated[Annotated[str, Field(min_length=1, max_length=32)] | None,
                         Field(json_schema_extra=PERSONAL)] = None


class OrderLine(ContractModel):
    """One line of goods: what an inventory list or CN23 line carries (DOMAIN.md §5)."""

    line_no: Annotated[int, Field(ge=1, le=100)]
    sku: ShortText
    name: ShortText
    hs_code: Annotated[str, Field(min_length=1, max_length=12)]
    quantity: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=3)]
    unit: Annotated[str, Field(min_length=1, max_length=8)] = "PCE"
    unit_price: PositiveMoney
    total_price: PositiveMoney
    currency: CurrencyCode
    origin_country: CountryCode
    net_weight_kg: Annotated[Decimal, Field(gt=0, max_digits=10, decimal_places=3)]


class Payment(ContractModel):
    """A payment as the three-document match sees it (DOMAIN.md §6).

    Inside a merchant's order (`Parcel.payment`) it is only the order's *claim* (CEB311 payCode, payTransactionId);
    the payment document itself comes from the payment provider's own key (`payment.recorded`).
    """

    payer_name: Annotated[ShortText, Field(json_schema_extra=PERSONAL)]
    payer_id_type: IdType | None = None
    payer_id_number: Annotated[Annotated[str, Field(min_length=1, max_length=32)] | None,
                               Field(json_schema_extra=PERSONAL)] = None
    provider: ShortText
    transaction_id: ShortText
    amount: Money
    currency: CurrencyCode
    paid_at: datetime


class Parcel(ContractModel):
    """The order a merchant submits, identical for every channel."""

    merchant_order_no: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-/]+$")]
    channel: Channel
    direction: Direction
    trade_mode: TradeMode | None = None
    mail_product: MailProduct | None = None
    carrier: Annotated[str, Field(min_length=2, max_length=16, description=carrier_description())] | None = None
    contents_type: ContentsType = "merchandise"
    sender: Party
    consignee: Party
    buyer: Party | None = None  # None: the consignee is the buyer
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=100)]
    currency: CurrencyCode
    goods_value: Money
    freight: Money = Decimal("0")
    insurance: Money = Decimal("0")
    discount: Money = Decimal("0")
    tax: Money = Decimal("0")
    amount_paid: Money
    gross_weight_kg: Annotated[Decimal, Field(gt=0, max_digits=10, decimal_places=3)] | None = None
    payment: Payment | None = None  # the order's claim about its payment, never the payment document
    # E-commerce: the external logistics company (a registered partner bound to the merchant) that carries the
    # parcel and sends its own waybill (CEB511); None: silkgate postal carries it and issues the waybill.
    logistics_company: PartnerCode | None = None

    @property
    def effective_buyer(self) -> Party:
        """The buyer of record: the explicit buyer, else the consignee."""
        return self.buyer or self.consignee

    @property
    def weight_kg(self) -> Decimal:
        """Gross weight if declared, else the sum of the lines' net weights."""
        return self.gross_weight_kg or sum((line.net_weight_kg for line in self.lines), Decimal("0"))
