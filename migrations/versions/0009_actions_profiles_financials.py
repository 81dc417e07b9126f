"""corporate actions, stock profiles, financials, factor revisions

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 19:00:00.000000

``corporate_actions`` (one row per stock and ex-date), ``stock_profiles`` (what each source says
of a stock from a date on: name, ST, industry, area, shares), ``financials`` (every announced
version of each quarterly report, for point-in-time reads) and ``adj_factor_revisions`` (the
old value of every stored factor a later fetch changed).
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('adj_factor_revisions',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('trade_date', sa.Date(), nullable=False),
    sa.Column('old_factor', sa.Numeric(precision=20, scale=6), nullable=False),
    sa.Column('new_factor', sa.Numeric(precision=20, scale=6), nullable=False),
    sa.Column('old_source', sa.String(length=16), nullable=False),
    sa.Column('new_source', sa.String(length=16), nullable=False),
    sa.Column('detected_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adj_factor_revisions'))
    )
    op.create_index('ix_adj_factor_revisions_code_trade_date', 'adj_factor_revisions', ['code', 'trade_date'], unique=False)
    op.create_table('corporate_actions',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('ex_date', sa.Date(), nullable=False),
    sa.Column('cash_div', sa.Numeric(precision=14, scale=6), nullable=False),
    sa.Column('bonus_ratio', sa.Numeric(precision=12, scale=6), nullable=False),
    sa.Column('transfer_ratio', sa.Numeric(precision=12, scale=6), nullable=False),
    sa.Column('rights_ratio', sa.Numeric(precision=12, scale=6), nullable=False),
    sa.Column('rights_price', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.Column('record_date', sa.Date(), nullable=True),
    sa.Column('pay_date', sa.Date(), nullable=True),
    sa.Column('announce_date', sa.Date(), nullable=True),
    sa.Column('report_period', sa.Date(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code', 'ex_date', name=op.f('pk_corporate_actions'))
    )
    op.create_table('stock_profiles',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('is_st', sa.Boolean(), nullable=True),
    sa.Column('industry', sa.Text(), nullable=True),
    sa.Column('industry_scheme', sa.Text(), nullable=True),
    sa.Column('area', sa.Text(), nullable=True),
    sa.Column('total_shares', sa.Numeric(precision=20, scale=2), nullable=True),
    sa.Column('float_shares', sa.Numeric(precision=20, scale=2), nullable=True),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code', 'valid_from', 'source', name=op.f('pk_stock_profiles'))
    )
    op.create_table('financials',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('report_period', sa.Date(), nullable=False),
    sa.Column('announce_date', sa.Date(), nullable=False),
    sa.Column('eps', sa.Float(), nullable=True),
    sa.Column('roe', sa.Float(), nullable=True),
    sa.Column('revenue', sa.Float(), nullable=True),
    sa.Column('net_profit', sa.Float(), nullable=True),
    sa.Column('revenue_yoy', sa.Float(), nullable=True),
    sa.Column('net_profit_yoy', sa.Float(), nullable=True),
    sa.Column('gross_margin', sa.Float(), nullable=True),
    sa.Column('debt_ratio', sa.Float(), nullable=True),
    sa.Column('announce_estimated', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code', 'report_period', 'announce_date', name=op.f('pk_financials'))
    )
    op.create_index('ix_financials_announce_date', 'financials', ['announce_date'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_financials_announce_date', table_name='financials')
    op.drop_table('financials')
    op.drop_table('stock_profiles')
    op.drop_table('corporate_actions')
    op.drop_index('ix_adj_factor_revisions_code_trade_date', table_name='adj_factor_revisions')
    op.drop_table('adj_factor_revisions')
