"""`silkgate partners …`: the partner registry from the command line, on the orders database the configuration names
(the embedded data directory by default, like `silkgate keys`). The same use cases and checks as the ops API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders import partners
from services.orders.schemas import PartnerCreate
from shared.db import Database
from shared.errors import invalid_input_from, validation_errors
from shared.services import settings_for

T = TypeVar("T")


async def in_orders_db(action: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `action` in one transaction on the orders database."""
    db = Database(settings_for("orders").resolved_database_url())
    try:
        async with db.transaction() as session:
            return await action(session)
    finally:
        await db.dispose()


async def add(*, code: str, kind: str, name: str, uscc: str | None) -> dict[str, Any]:
    try:
        body = PartnerCreate(code=code, kind=kind, name=name, uscc=uscc)
    except ValidationError as exc:
        raise invalid_input_from(validation_errors(list(exc.errors()))) from None
    return await in_orders_db(lambda s: partners.add_partner(s, code=body.code, kind=body.kind, name=body.name,
                                                             uscc=body.uscc))


async def listing(*, kind: str | None, merchant: str | None) -> list[dict[str, Any]]:
    return await in_orders_db(lambda s: partners.list_partners(s, kind=kind, merchant_code=merchant))


async def bind(*, code: str, merchant: str) -> bool:
    return await in_orders_db(lambda s: partners.bind(s, code=code, merchant_code=merchant))


async def unbind(*, code: str, merchant: str) -> None:
    await in_orders_db(lambda s: partners.unbind(s, code=code, merchant_code=merchant))


async def set_active(*, code: str, active: bool) -> dict[str, Any]:
    return await in_orders_db(lambda s: partners.update_partner(s, code, {"active": active}))


def line(partner: dict[str, Any]) -> str:
    """One partner as `silkgate partners list` prints it."""
    state = "active" if partner["active"] else "inactive"
    merchants = ",".join(partner["merchants"]) or "-"
    return f"{partner['code']:<16} {partner['kind']:<9} {state:<8} {partner['uscc'] or '-':<18}  {merchants}  " \
           f"{partner['name']}"
