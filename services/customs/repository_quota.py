"""Queries of the annual quota (DOMAIN.md §7): what each buyer's filed e-commerce imports hold of the year's
26,000 CNY, reserved when a declaration is filed and given back when it is rejected, cancelled or returned.

Nothing here commits. Inside a consumer batch that read the buyer's row ahead and locked it (repository_batch.py),
the batch decides on the value it holds and writes it with its other writes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.customs.models import BuyerQuota
from services.customs.repository_batch import cached_quota, forget_quota
from shared.batch import execute_later, insert_rows

_quotas = BuyerQuota.__table__

_QUOTA = select(_quotas.c.reserved_fen).where(_quotas.c.buyer_key == bindparam("buyer_key"),
                                              _quotas.c.year == bindparam("year"))
_RESERVE = (update(_quotas)
            .where(_quotas.c.buyer_key == bindparam("b_key"), _quotas.c.year == bindparam("b_year"),
                   _quotas.c.reserved_fen + bindparam("fen") <= bindparam("limit_fen"))
            .values(reserved_fen=_quotas.c.reserved_fen + bindparam("fen"), updated_at=bindparam("now")))
_SET_QUOTA = (update(_quotas)
              .where(_quotas.c.buyer_key == bindparam("b_buyer_key"), _quotas.c.year == bindparam("b_year"))
              .values(reserved_fen=bindparam("b_reserved_fen"), updated_at=bindparam("b_updated_at")))
_RELEASE = (update(_quotas)
            .where(_quotas.c.buyer_key == bindparam("b_key"), _quotas.c.year == bindparam("b_year"))
            .values(reserved_fen=_quotas.c.reserved_fen - bindparam("fen"), updated_at=bindparam("now")))


def _ensure_quota(session: AsyncSession):
    """INSERT the buyer's year at zero unless it is there (both engines spell ON CONFLICT DO NOTHING)."""
    insert = postgresql_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    return insert(_quotas).on_conflict_do_nothing()


class QuotaRepository:
    """The buyers' yearly quota rows, in the caller's session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def quota_reserved(self, *, buyer_key: str, year: int) -> int:
        """What the buyer's filed e-commerce imports hold of the year's quota, in fen."""
        read = cached_quota(self.session, buyer_key=buyer_key, year=year)
        if read is not None:
            return read.reserved_fen
        found = (await self.session.execute(_QUOTA, {"buyer_key": buyer_key, "year": year})).scalar_one_or_none()
        return found or 0

    async def reserve_quota(self, *, buyer_key: str, year: int, fen: int, limit_fen: int, now: datetime) -> bool:
        """Add `fen` to the buyer's year unless that passes `limit_fen`; concurrent declarations of one buyer
        (replicas included) can never together pass the limit.

        Live: one conditional UPDATE decides. In a consumer batch that locked the row when it read ahead, the
        batch decides on the value it holds and writes it with the batch's other writes."""
        read = cached_quota(self.session, buyer_key=buyer_key, year=year)
        if read is not None:
            reserved = read.reserved_fen + fen
            if reserved > limit_fen:
                return False
            row = {"buyer_key": buyer_key, "year": year, "reserved_fen": reserved, "updated_at": now}
            if read.exists:
                await execute_later(self.session, _SET_QUOTA, {f"b_{k}": v for k, v in row.items()})
            else:
                await insert_rows(self.session, _quotas, [row])
                read.exists = True
            read.reserved_fen = reserved
            return True
        await self.session.execute(_ensure_quota(self.session), {"buyer_key": buyer_key, "year": year,
                                                                 "reserved_fen": 0, "updated_at": now})
        result = await self.session.execute(_RESERVE, {"b_key": buyer_key, "b_year": year, "fen": fen,
                                                       "limit_fen": limit_fen, "now": now})
        return result.rowcount == 1

    async def release_quota(self, *, buyer_key: str, year: int, fen: int, now: datetime) -> None:
        """Give `fen` back to the buyer's year (a rejection, cancellation or return)."""
        forget_quota(self.session, buyer_key=buyer_key, year=year)
        await self.session.execute(_RELEASE, {"b_key": buyer_key, "b_year": year, "fen": fen, "now": now})
