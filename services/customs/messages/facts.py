"""What the message builders need, as plain frozen values: who files (Declarant) and what (FilingFacts).

Customs' filing code builds FilingFacts from its tables (the declaration, its current — possibly amended — lines,
the documents received); the builders turn them into CEB XML or JSON messages. Nothing here reads a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contract.parcel import OrderLine, Parcel, Payment

AppType = Literal[1, 2, 3]  # 1 new, 2 change (a re-filing after a correction), 3 delete


@dataclass(frozen=True)
class Declarant:
    """The filer as customs knows it: silkgate's brokerage (agent), the platform, the logistics company.

    The defaults are sandbox placeholders; set the real registration codes through DeclarantSettings.
    """

    cop_code: str = "6501960001"  # the filer's customs registration code (BaseTransfer.copCode)
    cop_name: str = "silkgate customs brokerage (sandbox)"
    dxp_id: str = "DXPENTSILKGATE01"  # the filer's single-window (DXP) id: the transport's SenderID
    agent_code: str = "6501960001"  # the declaring agent (a customs broker); silkgate files as one
    agent_name: str = "silkgate customs brokerage (sandbox)"
    ebp_code: str = "6501960002"  # the e-commerce platform
    ebp_name: str = "silkgate platform (sandbox)"
    customs_code: str = "4600"  # the customs office (4 digits)
    port_code: str = "4600"  # the port of entry/exit (4 digits)
    logistics_code: str = "6501960003"  # silkgate postal, when the parcel names no external logistics company
    logistics_name: str = "silkgate postal"
    traf_mode: str = "4"  # transport mode: 2 sea, 3 rail, 4 road, 5 air, 6 mail
    assure_code: str | None = None  # the guarantor; None: the e-commerce company guarantees its own lists
    ems_no: str | None = None  # the bonded-warehouse account book, needed for trade mode 1210


class DeclarantSettings(BaseModel):
    """Declarant as settings (customs embeds it, e.g. `SILKGATE_CUSTOMS_DECLARANT__COP_CODE`)."""

    model_config = ConfigDict(extra="forbid")

    cop_code: Annotated[str, Field(min_length=1, max_length=18)] = Declarant.cop_code
    cop_name: Annotated[str, Field(min_length=1, max_length=100)] = Declarant.cop_name
    dxp_id: Annotated[str, Field(min_length=1, max_length=30)] = Declarant.dxp_id
    agent_code: Annotated[str, Field(min_length=1, max_length=18)] = Declarant.agent_code
    agent_name: Annotated[str, Field(min_length=1, max_length=100)] = Declarant.agent_name
    ebp_code: Annotated[str, Field(min_length=1, max_length=18)] = Declarant.ebp_code
    ebp_name: Annotated[str, Field(min_length=1, max_length=100)] = Declarant.ebp_name
    customs_code: Annotated[str, Field(pattern=r"^[0-9]{4}$")] = Declarant.customs_code
    port_code: Annotated[str, Field(pattern=r"^[0-9]{4}$")] = Declarant.port_code
    logistics_code: Annotated[str, Field(min_length=1, max_length=18)] = Declarant.logistics_code
    logistics_name: Annotated[str, Field(min_length=1, max_length=100)] = Declarant.logistics_name
    traf_mode: Annotated[str, Field(pattern=r"^[0-9A-Z]$")] = Declarant.traf_mode
    assure_code: Annotated[str, Field(min_length=1, max_length=18)] | None = None
    ems_no: Annotated[str, Field(min_length=1, max_length=30)] | None = None

    def declarant(self) -> Declarant:
        return Declarant(**self.model_dump())


@dataclass(frozen=True)
class FilingLine:
    """One line as filed: the declaration's current line (a broker may have amended name, HS code, value …)."""

    line_no: int
    sku: str  # itemNo
    name: str  # itemName / gname
    hs_code: str  # 10 digits on an inventory list (gcode)
    quantity: Decimal
    unit: str  # UN/ECE Rec. 20 (PCE, KGM …) or a customs unit code
    unit_price: Decimal
    total_price: Decimal
    currency: str  # ISO 4217
    origin_country: str  # ISO 3166-1 alpha-2
    net_weight_kg: Decimal  # the line's net weight
    description: str | None = None  # itemDescribe / gmodel; None: the name

    @classmethod
    def from_order_line(cls, line: OrderLine, *, description: str | None = None) -> FilingLine:
        return cls(line_no=line.line_no, sku=line.sku, name=line.name, hs_code=line.hs_code,
                   quantity=line.quantity, unit=line.unit, unit_price=line.unit_price, total_price=line.total_price,
                   currency=line.currency, origin_country=line.origin_country, net_weight_kg=line.net_weight_kg,
                   description=description)


@dataclass(frozen=True)
class FilingFacts:
    """Everything one filing of one declaration says; each message built from it gets its own guid.

    Amounts come from `parcel` (goods value is recomputed from `lines`); `tax_total` is the tax collected from the
    buyer with the order (CEB311 taxTotal, normally `parcel.tax`): acturalPaid (`parcel.amount_paid`) must equal
    goodsValue + freight + taxTotal − discount or the CEB311 is refused.
    """

    declaration_id: str  # copNo
    order_id: str  # silkgate's order id (kept in the message's note)
    app_type: AppType
    app_time: datetime  # aware; written as YYYYMMDDhhmmss China time
    channel: Literal["mail", "express", "ecommerce"]
    direction: Literal["import", "export"]
    merchant_code: str  # ebcCode: the e-commerce company
    merchant_name: str  # ebcName
    parcel: Parcel
    lines: tuple[FilingLine, ...]
    form: str | None = None  # CN22, CN23, express_A … express_D, inventory_list
    trade_mode: str | None = None  # 9610, 9710, 9810, 1210 (e-commerce)
    tracking_number: str | None = None  # logisticsNo, the S10 id of a mail item, the express waybill number
    logistics_code: str | None = None  # None: the declarant's (silkgate postal)
    logistics_name: str | None = None
    payment: Payment | None = None  # the payment provider's document (the order's own payment is only a claim)
    pay_code: str | None = None  # the payment provider's registration code (payCode)
    pay_name: str | None = None
    tax_total: Decimal = Decimal(0)
    note: str | None = None
    # Cancellation (623/605) and return (625) name the list customs accepted: its numbers from the 120 receipt.
    pre_no: str | None = None
    invt_no: str | None = None
    reason: str | None = None
