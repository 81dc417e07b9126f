"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 16:43:13.846168
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('adj_factors',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('trade_date', sa.Date(), nullable=False),
    sa.Column('factor', sa.Numeric(precision=20, scale=6), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('code', 'trade_date', name=op.f('pk_adj_factors'))
    )
    op.create_table('bars',
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
    sa.Column('turnover_pct', sa.Numeric(precision=12, scale=4), nullable=True),
    sa.Column('pct_chg', sa.Numeric(precision=12, scale=4), nullable=True),
    sa.Column('trade_status', sa.SmallInteger(), nullable=False),
    sa.Column('is_st', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code', 'period', 'trade_date', name=op.f('pk_bars'))
    )
    op.create_index('ix_bars_period_trade_date', 'bars', ['period', 'trade_date'], unique=False)
    op.create_table('securities',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('exchange', sa.String(length=4), nullable=False),
    sa.Column('board', sa.String(length=16), nullable=False),
    sa.Column('list_date', sa.Date(), nullable=False),
    sa.Column('delist_date', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_securities'))
    )
    op.create_table('sync_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('spec', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('total', sa.Integer(), server_default='0', nullable=False),
    sa.Column('success_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('failed_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('skipped_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('rows_written', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('fence', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_runs'))
    )
    op.create_index('ix_sync_runs_status', 'sync_runs', ['status'], unique=False)
    op.create_table('trade_calendar',
    sa.Column('exchange', sa.String(length=8), nullable=False),
    sa.Column('cal_date', sa.Date(), nullable=False),
    sa.Column('is_open', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('exchange', 'cal_date', name=op.f('pk_trade_calendar'))
    )
    op.create_table('sync_items',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('unit_key', sa.String(length=200), nullable=False),
    sa.Column('dataset', sa.String(length=24), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('trade_date', sa.Date(), nullable=True),
    sa.Column('code', sa.String(length=12), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=True),
    sa.Column('rows', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['sync_runs.id'], name=op.f('fk_sync_items_run_id_sync_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_items')),
    sa.UniqueConstraint('run_id', 'unit_key', name=op.f('uq_sync_items_run_id_unit_key'))
    )
    op.create_index('ix_sync_items_run_id_status', 'sync_items', ['run_id', 'status'], unique=False)
    op.create_index('ix_sync_items_unit_key_status', 'sync_items', ['unit_key', 'status'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sync_items_unit_key_status', table_name='sync_items')
    op.drop_index('ix_sync_items_run_id_status', table_name='sync_items')
    op.drop_table('sync_items')
    op.drop_table('trade_calendar')
    op.drop_index('ix_sync_runs_status', table_name='sync_runs')
    op.drop_table('sync_runs')
    op.drop_table('securities')
    op.drop_index('ix_bars_period_trade_date', table_name='bars')
    op.drop_table('bars')
    op.drop_table('adj_factors')
