"""webhook signing secrets encrypted at rest, with a previous secret for a rotation's overlap; API key expiry

The secret column becomes text (a Fernet token is longer than the secret), every secret stored in clear is
encrypted under the first configured key (services/orders/webhooks/encryption.py: SILKGATE_ORDERS_WEBHOOK_SECRET_KEYS
or _FILE, or the embedded mode's key under the data directory), and two columns hold the previous secret and the end
of the overlap during which it still signs deliveries. Downgrade decrypts them again. API keys get an optional end
of validity (expires_at).

Revision ID: orders_0005
Revises: orders_0004
Create Date: 2026-12-04 15:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import shared.db


# revision identifiers, used by Alembic.
revision: str = 'orders_0005'
down_revision: Union[str, Sequence[str], None] = 'orders_0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

endpoints = sa.table('webhook_endpoints', sa.column('id', sa.String), sa.column('secret', sa.Text),
                     sa.column('previous_secret', sa.Text))


def _box():
    from services.orders.settings import OrdersSettings
    from services.orders.webhooks.encryption import secret_box

    return secret_box(OrdersSettings())


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', shared.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.alter_column('secret', existing_type=sa.String(length=128), type_=sa.Text(), existing_nullable=False)
        batch_op.add_column(sa.Column('previous_secret', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('previous_secret_expires_at', shared.db.UTCDateTime(timezone=True),
                                      nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.select(endpoints.c.id, endpoints.c.secret)
                              .where(endpoints.c.secret.like('whsec\\_%', escape='\\'))).all()
    if rows:
        box = _box()
        for row in rows:
            connection.execute(endpoints.update().where(endpoints.c.id == row.id)
                               .values(secret=box.seal(row.secret)))


def downgrade() -> None:
    """Downgrade schema."""
    connection = op.get_bind()
    rows = connection.execute(sa.select(endpoints.c.id, endpoints.c.secret)).all()
    if rows:
        box = _box()
        for row in rows:
            connection.execute(endpoints.update().where(endpoints.c.id == row.id)
                               .values(secret=box.open(row.secret)))
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.drop_column('previous_secret_expires_at')
        batch_op.drop_column('previous_secret')
        batch_op.alter_column('secret', existing_type=sa.Text(), type_=sa.String(length=128), existing_nullable=False)
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
