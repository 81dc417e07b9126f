"""beat schedules and the trigger of each run

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('schedules',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('cron', sa.String(length=120), nullable=True),
    sa.Column('enabled', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('body', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_schedules'))
    )
    op.add_column('sync_runs', sa.Column('trigger', sa.String(length=40), nullable=True))


def downgrade() -> None:
    op.drop_column('sync_runs', 'trigger')
    op.drop_table('schedules')
