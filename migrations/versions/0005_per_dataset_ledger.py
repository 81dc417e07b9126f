"""the ledger per dataset: sync_item_datasets, wider unit dataset lists, quarantine.dataset

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 22:00:00.000000

Existing successful units are backfilled with what they claimed to store: their datasets
("bars" meant bars, adjustment factors and valuations for daily units), except datasets the
unit's source never served (akshare has no valuations), which stay open for a later run.
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column('sync_items', 'dataset', type_=sa.String(length=64))
    op.execute(
        "UPDATE sync_items SET dataset = 'bars+adj_factors+valuations' "
        "WHERE dataset = 'bars' AND period = 'daily'"
    )
    op.create_table('sync_item_datasets',
    sa.Column('item_id', sa.BigInteger(), nullable=False),
    sa.Column('dataset', sa.String(length=24), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=True),
    sa.Column('rows_received', sa.Integer(), server_default='0', nullable=False),
    sa.Column('rows_written', sa.Integer(), server_default='0', nullable=False),
    sa.Column('missing', sa.Integer(), server_default='0', nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['sync_items.id'], name=op.f('fk_sync_item_datasets_item_id_sync_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('item_id', 'dataset', name=op.f('pk_sync_item_datasets'))
    )
    op.create_index('ix_sync_item_datasets_dataset_status', 'sync_item_datasets', ['dataset', 'status'], unique=False)
    op.execute(
        """
        INSERT INTO sync_item_datasets (item_id, dataset, status, source, rows_received, rows_written)
        SELECT i.id, d.name, 'stored', i.source, i.rows, i.rows
        FROM sync_items i
        CROSS JOIN LATERAL unnest(string_to_array(i.dataset, '+')) AS d(name)
        WHERE i.status = 'success' AND i.source IS NOT NULL
          AND NOT (i.source = 'akshare' AND d.name = 'valuations')
        """
    )
    op.add_column('quarantine', sa.Column('dataset', sa.String(length=24), server_default='bars', nullable=False))


def downgrade() -> None:
    op.drop_column('quarantine', 'dataset')
    op.drop_index('ix_sync_item_datasets_dataset_status', table_name='sync_item_datasets')
    op.drop_table('sync_item_datasets')
    op.execute(
        "UPDATE sync_items SET dataset = 'bars' WHERE dataset = 'bars+adj_factors+valuations'"
    )
    op.alter_column('sync_items', 'dataset', type_=sa.String(length=24))
