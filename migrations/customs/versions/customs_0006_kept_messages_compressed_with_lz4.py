"""messages, exchanges, receipts: the kept messages compressed with lz4 on PostgreSQL

Every filed message, every attempt's request and answer, and every receipt is kept whole (several KB each, a dozen
per parcel), so PostgreSQL compresses them out of line (TOAST). Its default, pglz, cost ~0.09 ms of server CPU per
such row here; lz4 ~0.01 and stores them smaller. Existing values stay as they are (they are read back either way);
new ones use lz4. A server built without lz4, and SQLite, keep their default.

Revision ID: customs_0006
Revises: customs_0005
Create Date: 2026-12-04 21:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'customs_0006'
down_revision: Union[str, Sequence[str], None] = 'customs_0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

KEPT = (("messages", "body"), ("exchanges", "request_body"), ("exchanges", "response_body"), ("receipts", "body"))


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    values = bind.execute(sa.text(
        "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")).scalar()
    return values is not None and "lz4" in values


def _compress(method: str) -> None:
    if not _lz4_available():
        return
    for table, column in KEPT:
        op.execute(f'ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}')


def upgrade() -> None:
    """Upgrade schema."""
    _compress("lz4")


def downgrade() -> None:
    """Downgrade schema."""
    _compress("default")
