"""outbox: the W3C traceparent of the span that wrote each event (OpenTelemetry, shared/tracing.py)

Revision ID: postal_0003
Revises: postal_0002
Create Date: 2026-12-04 15:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'postal_0003'
down_revision: Union[str, Sequence[str], None] = 'postal_0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('trace_context', sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('trace_context')
