"""Tracking identifiers from durable sequences: unique under concurrent workers, valid by their rules."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from services.postal import repository
from services.postal.domain import s10
from services.postal.domain.carriers import (
    DEFAULT_CARRIERS,
    CarrierNumbering,
    parse_logistics_number,
    validate_waybill_number,
)
from services.postal.domain.errors import UnknownCarrier
from services.postal.identifiers import allocate_identifier, allocate_s10
from shared.db import Database
from tests.postal.factories import parcel

DAY = date(2026, 11, 21)


async def _allocate_many(db: Database, *, transactions: int, per_transaction: int) -> list[str]:
    issued = []
    for _ in range(transactions):
        async with db.transaction() as session:
            for _ in range(per_transaction):
                issued.append(await allocate_s10(session, indicator="RR", country="CN"))
    return issued


async def test_ten_thousand_s10_ids_from_two_concurrent_workers_are_unique(postal_url):
    # Two workers = two engines (two connection pools, as two processes would have) on one database, each
    # running two allocators at once, each allocating in many short transactions.
    workers = [Database(postal_url), Database(postal_url)]
    try:
        batches = await asyncio.gather(*[
            _allocate_many(db, transactions=100, per_transaction=25) for db in workers for _ in range(2)
        ])
    finally:
        for db in workers:
            await db.dispose()
    issued = [number for batch in batches for number in batch]
    assert len(issued) == 10_000
    assert len(set(issued)) == 10_000
    assert all(s10.is_valid(number) for number in issued)
    # Nothing rolled back, so the serials are exactly 1..10,000: no number skipped, none taken twice.
    assert sorted(s10.validate(n).serial for n in issued) == list(range(1, 10_001))


async def test_a_sequence_continues_after_a_restart_and_a_rollback_issues_nothing(postal_url):
    db = Database(postal_url)
    async with db.transaction() as session:
        first = await repository.allocate(session, "s10:CP", 3)
    await db.dispose()
    restarted = Database(postal_url)
    try:
        with pytest.raises(RuntimeError):
            async with restarted.transaction() as session:
                await repository.allocate(session, "s10:CP")
                raise RuntimeError("the waybill insert failed")
        async with restarted.transaction() as session:
            after = await repository.allocate(session, "s10:CP")
            other = await repository.allocate(session, "s10:EA")
    finally:
        await restarted.dispose()
    assert (first, after, other) == (1, 4, 1)


@pytest.mark.parametrize(
    ("product", "indicator"),
    [("letter", "UA"), ("registered_letter", "RR"), ("tracked_letter", "LX"), ("parcel", "CP"), ("ems", "EA"),
     ("insured", "VV"), (None, "CP")],
)
async def test_mail_gets_an_s10_id_of_its_product_and_the_configured_country(postal_db, postal_settings, product,
                                                                             indicator):
    settings = postal_settings(issuing_country="KZ")
    async with postal_db.transaction() as session:
        first = await allocate_identifier(session, parcel("mail", product=product), settings, today=DAY)
        second = await allocate_identifier(session, parcel("mail", product=product), settings, today=DAY)
    parsed = s10.validate(first.tracking_number)
    assert (parsed.indicator, parsed.country, parsed.serial) == (indicator, "KZ", 1)
    assert s10.validate(second.tracking_number).serial == 2
    assert first.carrier == settings.mail_carrier == "SGPOST"


async def test_configured_indicators_replace_the_defaults(postal_db, postal_settings):
    settings = postal_settings(s10_indicators={"parcel": "CQ"})
    async with postal_db.transaction() as session:
        identifier = await allocate_identifier(session, parcel("mail", product="parcel"), settings, today=DAY)
    assert identifier.tracking_number.startswith("CQ") and s10.is_valid(identifier.tracking_number)


@pytest.mark.parametrize("carrier", sorted(DEFAULT_CARRIERS))
async def test_express_gets_the_carriers_waybill_number_with_its_check_rule(postal_db, postal_settings, carrier):
    async with postal_db.transaction() as session:
        numbers = [
            (await allocate_identifier(session, parcel("express", carrier=carrier), postal_settings(),
                                       today=DAY)).tracking_number
            for _ in range(3)
        ]
    numbering = DEFAULT_CARRIERS[carrier]
    assert [validate_waybill_number(numbering, n) for n in numbers] == [1, 2, 3]


async def test_a_carrier_from_settings_numbers_by_its_own_scheme(postal_db, postal_settings):
    settings = postal_settings(carriers={"ZTO": {"prefix": "ZT", "serial_digits": 10, "check": "mod10"}})
    async with postal_db.transaction() as session:
        identifier = await allocate_identifier(session, parcel("express", carrier="zto"), settings, today=DAY)
    assert identifier.carrier == "ZTO"
    assert validate_waybill_number(CarrierNumbering("ZT", 10, "mod10"), identifier.tracking_number) == 1


async def test_an_express_carrier_without_numbering_is_refused(postal_db, postal_settings):
    async with postal_db.transaction() as session:
        with pytest.raises(UnknownCarrier):
            await allocate_identifier(session, parcel("express", carrier="NOPE"), postal_settings(), today=DAY)


async def test_ecommerce_gets_a_daily_logistics_number(postal_db, postal_settings):
    settings = postal_settings(logistics_prefix="YT")
    async with postal_db.transaction() as session:
        today = [await allocate_identifier(session, parcel("ecommerce"), settings, today=DAY) for _ in range(2)]
        tomorrow = await allocate_identifier(session, parcel("ecommerce"), settings, today=date(2026, 11, 22))
    assert [parse_logistics_number(i.tracking_number) for i in today] == [("YT", DAY, 1), ("YT", DAY, 2)]
    assert parse_logistics_number(tomorrow.tracking_number) == ("YT", date(2026, 11, 22), 1)
    assert today[0].tracking_number == "YT26112100000001"
    assert today[0].carrier == "SGE"  # no carrier on the order: the configured e-commerce line


async def test_ecommerce_goes_to_the_orders_carrier_when_it_names_one(postal_db, postal_settings):
    async with postal_db.transaction() as session:
        identifier = await allocate_identifier(session, parcel("ecommerce", carrier="SGX"), postal_settings(),
                                               today=DAY)
    assert identifier.carrier == "SGX"
