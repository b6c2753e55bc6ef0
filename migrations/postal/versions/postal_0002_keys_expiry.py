"""API keys get an optional end of validity (expires_at): `silkgate keys create --expires-in …`

Revision ID: postal_0002
Revises: postal_0001
Create Date: 2026-12-04 15:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import shared.db


# revision identifiers, used by Alembic.
revision: str = 'postal_0002'
down_revision: Union[str, Sequence[str], None] = 'postal_0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', shared.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
