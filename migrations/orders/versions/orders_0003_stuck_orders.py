"""stuck orders: when the status last changed, the status last reported stuck, and an index of orders on their way

Revision ID: orders_0003
Revises: orders_0002
Create Date: 2026-11-21 09:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import shared.db


# revision identifiers, used by Alembic.
revision: str = 'orders_0003'
down_revision: Union[str, Sequence[str], None] = 'orders_0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The statuses of orders on their way (services/orders/domain/status.py IN_FLIGHT_STATUSES at this revision).
IN_FLIGHT = sa.column('status').in_(('accepted', 'awaiting_clearance', 'on_hold', 'released', 'handed_off',
                                     'in_transit'))


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_changed_at', shared.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('stuck_reported_status', sa.String(length=24), nullable=True))
    # Orders accepted before this revision: the last recorded event is the best guess at their last status change.
    op.execute(sa.text('UPDATE orders SET status_changed_at = updated_at'))
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.alter_column('status_changed_at', existing_type=shared.db.UTCDateTime(timezone=True),
                              nullable=False)
    op.create_index(op.f('ix_orders_status_status_changed_at'), 'orders', ['status', 'status_changed_at'],
                    unique=False, postgresql_where=IN_FLIGHT, sqlite_where=IN_FLIGHT)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f('ix_orders_status_status_changed_at'), table_name='orders',
                  postgresql_where=IN_FLIGHT, sqlite_where=IN_FLIGHT)
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('stuck_reported_status')
        batch_op.drop_column('status_changed_at')
