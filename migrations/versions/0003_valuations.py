"""valuations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 17:37:48.835788
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('valuations',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('trade_date', sa.Date(), nullable=False),
    sa.Column('pe_ttm', sa.Numeric(precision=16, scale=4), nullable=True),
    sa.Column('pb', sa.Numeric(precision=16, scale=4), nullable=True),
    sa.Column('total_mv', sa.Numeric(precision=24, scale=2), nullable=True),
    sa.Column('circ_mv', sa.Numeric(precision=24, scale=2), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('fetched_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('code', 'trade_date', name=op.f('pk_valuations'))
    )


def downgrade() -> None:
    op.drop_table('valuations')
