"""A minimal service built from the kit alone, to test delivery guarantees without any domain."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Integer, MetaData, String, Table, func, select

from shared.auth import api_keys_table
from shared.consumer import MessageContext
from shared.contract.events import OrderAccepted
from shared.contract.parcel import Parcel
from shared.db import new_metadata
from shared.inbox import inbox_table
from shared.outbox import outbox_table
from shared.runtime import ServiceRuntime, ServiceTables
from shared.settings import ServiceSettings

metadata: MetaData = new_metadata()
effects = Table(
    "effects", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", String(64), nullable=False),
)
tables = ServiceTables(metadata=metadata, outbox=outbox_table(metadata), inbox=inbox_table(metadata),
                       api_keys=api_keys_table(metadata))


class KitSettings(ServiceSettings):
    SERVICE: str = "kit"


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the kit catches it."""


async def record_effect(ctx: MessageContext) -> None:
    event: OrderAccepted = ctx.event
    if event.parcel.merchant_order_no.startswith("POISON"):
        raise ValueError(f"cannot handle {event.parcel.merchant_order_no}")
    await ctx.session.execute(effects.insert().values(order_id=event.order_id))


def make_runtime(*, database_url: str, nats_url: str, pause_consumers: dict | None = None,
                 **overrides) -> ServiceRuntime:
    settings = KitSettings(database_url=database_url, nats_url=nats_url, migrate_on_start=False,
                           consumer_fetch_timeout_s=0.2, **overrides)
    return ServiceRuntime(settings=settings, tables=tables, handlers={OrderAccepted: record_effect},
                          pause_consumers=pause_consumers or {})


def accepted(order_id: str, merchant_order_no: str | None = None) -> OrderAccepted:
    parcel = Parcel.model_validate({
        "merchant_order_no": merchant_order_no or f"MO-{order_id}",
        "channel": "mail", "direction": "export", "mail_product": "parcel",
        "sender": {"name": "Kashgar Shop", "phone": "+86 998 1234567", "address": "1 Silk Rd", "country": "CN"},
        "consignee": {"name": "Aigerim", "phone": "+7 727 1234567", "address": "5 Abay Ave", "country": "KZ"},
        "lines": [{"line_no": 1, "sku": "S1", "name": "Dried apricots", "hs_code": "081310", "quantity": "2",
                   "unit_price": "5.00", "total_price": "10.00", "currency": "USD", "origin_country": "CN",
                   "net_weight_kg": "0.5"}],
        "currency": "USD", "goods_value": "10.00", "amount_paid": "10.00",
    })
    return OrderAccepted(order_id=order_id, merchant_code="M1", accepted_at=datetime.now(UTC), parcel=parcel)


async def effect_counts(runtime: ServiceRuntime) -> dict[str, int]:
    async with runtime.db.reader() as session:
        rows = (await session.execute(select(effects.c.order_id, func.count()).group_by(effects.c.order_id))).all()
    return {order_id: count for order_id, count in rows}
