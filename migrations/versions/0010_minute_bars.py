"""minute bars

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 19:20:00.000000

``minute_bars`` holds the stocks' 5/15/30/60-minute bars, partitioned by month on ``bar_time``;
each month's partition is created the first time a row of it is written.
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('minute_bars',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('bar_time', sa.DateTime(), nullable=False),
    sa.Column('open', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('high', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('low', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('close', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('volume', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('code', 'period', 'bar_time', name=op.f('pk_minute_bars')),
    postgresql_partition_by='RANGE (bar_time)'
    )


def downgrade() -> None:
    op.drop_table('minute_bars')
