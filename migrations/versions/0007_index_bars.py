"""index bars

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 16:00:00.000000

``index_bars`` holds the bars of the main indices (daily, weekly, monthly), apart from the
stocks' ``bars``: an index is not a security one can hold, and its codes overlap stock codes.
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('index_bars',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('trade_date', sa.Date(), nullable=False),
    sa.Column('open', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('high', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('low', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('close', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('pre_close', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.Column('volume', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('pct_chg', sa.Numeric(precision=12, scale=4), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code', 'period', 'trade_date', name=op.f('pk_index_bars'))
    )
    op.create_index('ix_index_bars_period_trade_date', 'index_bars', ['period', 'trade_date'])


def downgrade() -> None:
    op.drop_index('ix_index_bars_period_trade_date', table_name='index_bars')
    op.drop_table('index_bars')
