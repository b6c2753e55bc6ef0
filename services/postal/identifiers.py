"""Tracking identifiers per channel, numbered from durable sequences: S10 for mail, carrier waybill numbers for
express, logistics numbers (logisticsNo) for e-commerce. Every number is checked by its pure rule before use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.postal import repository
from services.postal.domain import s10
from services.postal.domain.carriers import (
    build_waybill_number,
    logistics_number,
    numbering_for,
    parse_logistics_number,
    validate_waybill_number,
)
from services.postal.domain.errors import UnknownCarrier
from services.postal.settings import PostalSettings
from shared.contract.parcel import Parcel

# A mail order without a product travels as a parcel (CN23), as the consolidation rules assume.
DEFAULT_MAIL_PRODUCT = "parcel"


@dataclass(frozen=True, slots=True)
class Identifier:
    """An issued tracking number and the carrier the parcel will be handed to."""

    tracking_number: str
    carrier: str
    sequence: str


def carrier_for(parcel: Parcel, settings: PostalSettings) -> str:
    """Who the parcel goes to: the post's line for mail, the order's carrier for express (and e-commerce if given)."""
    if parcel.channel == "mail":
        return settings.mail_carrier
    if parcel.channel == "express":
        if not parcel.carrier:
            raise UnknownCarrier("carrier", "an express parcel needs a carrier")
        return parcel.carrier.upper()
    return (parcel.carrier or settings.ecommerce_carrier).upper()


async def allocate_s10(session: AsyncSession, *, indicator: str, country: str) -> str:
    """The next S10 identifier of a service indicator (one sequence per indicator, never reused)."""
    name = f"s10:{indicator}"
    serial = await repository.allocate(session, name)
    identifier = s10.build(service_indicator=indicator, serial=serial, country=country)
    s10.validate(identifier)
    return identifier


async def allocate_identifier(session: AsyncSession, parcel: Parcel, settings: PostalSettings, *,
                              today: date) -> Identifier:
    """Allocate the parcel's tracking number for its channel; raises a PostalRuleError when it cannot."""
    carrier = carrier_for(parcel, settings)
    if parcel.channel == "mail":
        indicator = s10.indicator_for(parcel.mail_product or DEFAULT_MAIL_PRODUCT, settings.indicators)
        number = await allocate_s10(session, indicator=indicator, country=settings.issuing_country)
        return Identifier(number, carrier, f"s10:{indicator}")
    if parcel.channel == "express":
        # Unknown carriers raise UnknownCarrier: we cannot number (or hand off) for a carrier with no contract.
        numbering = numbering_for(carrier, settings.carrier_numbering)
        name = f"carrier:{carrier}"
        number = build_waybill_number(numbering, await repository.allocate(session, name))
        validate_waybill_number(numbering, number)
        return Identifier(number, carrier, name)
    name = f"logistics:{settings.logistics_prefix}:{today:%Y%m%d}"
    serial = await repository.allocate(session, name)
    number = logistics_number(company_prefix=settings.logistics_prefix, serial=serial, day=today,
                              serial_digits=settings.logistics_serial_digits)
    parse_logistics_number(number, serial_digits=settings.logistics_serial_digits)
    return Identifier(number, carrier, name)
