"""index members

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 16:20:00.000000

``index_members`` holds monthly snapshots of the main indices' constituents (and weights where
the source has them), keyed by index, snapshot date and stock: the members of an index on a date
are those of its latest snapshot on or before it.
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('index_members',
    sa.Column('index_code', sa.String(length=12), nullable=False),
    sa.Column('trade_date', sa.Date(), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('weight', sa.Numeric(precision=10, scale=6), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('index_code', 'trade_date', 'code', name=op.f('pk_index_members'))
    )


def downgrade() -> None:
    op.drop_table('index_members')
