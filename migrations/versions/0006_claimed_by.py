"""who claimed each unit, and how often its worker died running it

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:00:00.000000

``sync_items.claimed_by`` names the worker process that last claimed the item, so the recovery
sweep can run again at once a unit whose process is known dead; ``interruptions`` counts those
deaths (the first costs the unit no attempt, later ones do).
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('sync_items', sa.Column('claimed_by', sa.Text(), nullable=True))
    op.add_column(
        'sync_items',
        sa.Column('interruptions', sa.Integer(), server_default='0', nullable=False),
    )


def downgrade() -> None:
    op.drop_column('sync_items', 'interruptions')
    op.drop_column('sync_items', 'claimed_by')
