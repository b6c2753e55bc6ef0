"""Tracking identifiers per channel, numbered from durable sequences: S10 for mail, carrier waybill numbers for
express, logistics numbers (logisticsNo) for e-commerce. Every number is checked by its pure rule before use."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.postal import repository
from services.postal.domain import s10
from services.postal.domain.carriers import (
    build_waybill_number,
    logistics_number,
    numbering_for,
    parse_logistics_number,
    validate_waybill_number,
)
from services.postal.domain.errors import PostalRuleError, UnknownCarrier
from services.postal.settings import PostalSettings
from shared.contract.parcel import Parcel

# A mail order without a product travels as a parcel (CN23), as the consolidation rules assume.
DEFAULT_MAIL_PRODUCT = "parcel"
# Numbers a transaction takes from a sequence at once; what it does not use goes back when it commits.
BLOCK_SIZE = 100
_BLOCKS = "postal.number_blocks"
_GIVES_BACK = "postal.gives_back_numbers"


@dataclass(frozen=True, slots=True)
class Identifier:
    """An issued tracking number and the carrier the parcel will be handed to."""

    tracking_number: str
    carrier: str
    sequence: str  # the sequence it was numbered from
    serial: int  # and its number there


def carrier_for(parcel: Parcel, settings: PostalSettings) -> str:
    """Who the parcel goes to: the post's line for mail, the order's carrier for express (and e-commerce if given)."""
    if parcel.channel == "mail":
        return settings.mail_carrier
    if parcel.channel == "express":
        if not parcel.carrier:
            raise UnknownCarrier("carrier", "an express parcel needs a carrier")
        return parcel.carrier.upper()
    return (parcel.carrier or settings.ecommerce_carrier).upper()


@dataclass(slots=True)
class _Block:
    """Numbers [next, end) of one sequence, allocated by the current transaction and not used yet."""

    next: int
    end: int


async def next_number(session: AsyncSession, name: str) -> int:
    """The next number of sequence `name` in the caller's transaction.

    A consumer batch issues many numbers in one transaction, so the transaction allocates a block at once (one
    UPDATE instead of one per parcel) and gives the unused tail back just before it commits, while it still holds
    the sequence's lock: numbers stay consecutive, unique and never reused, and a rollback takes the whole block
    back. In a savepoint, whose rollback would undo the block under us, numbers are allocated one at a time.
    """
    blocks = repository.held_in_transaction(session, _BLOCKS)
    if blocks is None:
        return await repository.allocate(session, name)
    block = blocks.get(name)
    if block is None or block.next == block.end:
        _give_back_at_commit(session.sync_session)
        first = await repository.allocate(session, name, BLOCK_SIZE)
        block = blocks[name] = _Block(first, first + BLOCK_SIZE)
    number = block.next
    block.next += 1
    return number


def put_back(session: AsyncSession, name: str, number: int) -> None:
    """Return a number just taken by next_number() and not issued (its order already had a waybill), if it can be."""
    blocks = repository.held_in_transaction(session, _BLOCKS)
    block = blocks.get(name) if blocks is not None else None
    if block is not None and block.next == number + 1:
        block.next = number


def _give_back_at_commit(session: Session) -> None:
    if not session.info.get(_GIVES_BACK):
        session.info[_GIVES_BACK] = True
        event.listen(session, "before_commit", _give_back_unused)


def _give_back_unused(session: Session) -> None:
    # before_commit fires for savepoints too; blocks belong to the outermost transaction and end with it.
    if session.in_nested_transaction():
        return
    held = session.info.pop(_BLOCKS, None)
    if held is None or held[0] is not session.get_transaction():
        return
    for name, block in held[1].items():
        if block.next < block.end:
            repository.give_back(session, name, unused_from=block.next, taken_to=block.end)


async def allocate_s10(session: AsyncSession, *, indicator: str, country: str) -> str:
    """The next S10 identifier of a service indicator (one sequence per indicator, never reused)."""
    return (await _next_s10(session, indicator=indicator, country=country))[0]


async def _next_s10(session: AsyncSession, *, indicator: str, country: str) -> tuple[str, int]:
    serial = await next_number(session, f"s10:{indicator}")
    identifier = s10.build(service_indicator=indicator, serial=serial, country=country)
    s10.validate(identifier)
    return identifier, serial


def sequence_of(parcel: Parcel, settings: PostalSettings, *, today: date) -> str:
    """The sequence the parcel's number is taken from (pure); raises a PostalRuleError when it cannot be numbered."""
    carrier = carrier_for(parcel, settings)
    if parcel.channel == "mail":
        return f"s10:{s10.indicator_for(parcel.mail_product or DEFAULT_MAIL_PRODUCT, settings.indicators)}"
    if parcel.channel == "express":
        numbering_for(carrier, settings.carrier_numbering)  # UnknownCarrier: no contract, no number
        return f"carrier:{carrier}"
    return f"logistics:{settings.logistics_prefix}:{today:%Y%m%d}"


async def reserve_numbers(session: AsyncSession, parcels: Iterable[Parcel], settings: PostalSettings, *,
                          today: date) -> None:
    """Read ahead for a consumer batch about to number `parcels`: take each sequence's numbers for them at once,
    in sequence-name order, before any waybill is held.

    Taken one block at a time as the handlers go, the blocks' UPDATEs would split the batch's held waybill and
    outbox inserts into several statements and lock the sequences in whatever order the parcels came (two
    replicas could then wait on each other). What goes unused is given back at commit as with any block; a parcel
    that needs more (or another day's sequence) takes a block as usual.
    """
    blocks = repository.held_in_transaction(session, _BLOCKS)
    if blocks is None:
        return
    counts: Counter[str] = Counter()
    for parcel in parcels:
        try:
            counts[sequence_of(parcel, settings, today=today)] += 1
        except PostalRuleError:
            continue  # its handler raises the same error, with the message at fault
    for name in sorted(counts):
        if name in blocks:
            continue  # numbers of this transaction's block are still held: next_number goes on from them
        _give_back_at_commit(session.sync_session)
        first = await repository.allocate(session, name, counts[name])
        blocks[name] = _Block(first, first + counts[name])


async def allocate_identifier(session: AsyncSession, parcel: Parcel, settings: PostalSettings, *,
                              today: date) -> Identifier:
    """Allocate the parcel's tracking number for its channel; raises a PostalRuleError when it cannot."""
    carrier = carrier_for(parcel, settings)
    if parcel.channel == "mail":
        indicator = s10.indicator_for(parcel.mail_product or DEFAULT_MAIL_PRODUCT, settings.indicators)
        number, serial = await _next_s10(session, indicator=indicator, country=settings.issuing_country)
        return Identifier(number, carrier, f"s10:{indicator}", serial)
    if parcel.channel == "express":
        # Unknown carriers raise UnknownCarrier: we cannot number (or hand off) for a carrier with no contract.
        numbering = numbering_for(carrier, settings.carrier_numbering)
        name = f"carrier:{carrier}"
        serial = await next_number(session, name)
        number = build_waybill_number(numbering, serial)
        validate_waybill_number(numbering, number)
        return Identifier(number, carrier, name, serial)
    name = f"logistics:{settings.logistics_prefix}:{today:%Y%m%d}"
    serial = await next_number(session, name)
    number = logistics_number(company_prefix=settings.logistics_prefix, serial=serial, day=today,
                              serial_digits=settings.logistics_serial_digits)
    parse_logistics_number(number, serial_digits=settings.logistics_serial_digits)
    return Identifier(number, carrier, name, serial)
