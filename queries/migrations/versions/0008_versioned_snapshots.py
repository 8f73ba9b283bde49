"""versioned snapshot rows (issue 13): an increment writes only the rows it changes

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 20:30:00

A snapshot row or item now lives from the batch that wrote it (`batch_id`) until the batch
that replaced it (`valid_to`, NULL while current). A batch sees the rows of its chain (the
full batch it descends from, `refresh_runs.chain_id`, up to itself) that were not replaced
by then. Existing batches were all written whole: a NULL chain_id means the batch is its
own chain, so they read exactly as before.
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add chain_id, valid_to and the indexes a versioned read walks."""
    op.add_column('refresh_runs', sa.Column('chain_id', sa.Integer(), nullable=True))
    op.add_column('snapshot_regions', sa.Column('valid_to', sa.Integer(), nullable=True))
    op.add_column('snapshot_items', sa.Column('valid_to', sa.Integer(), nullable=True))
    op.drop_index('ix_snapshot_parent', table_name='snapshot_regions')
    op.create_index('ix_snapshot_parent', 'snapshot_regions', ['parent_code', 'batch_id'])
    op.create_index('ix_snapshot_region', 'snapshot_regions', ['region_code', 'batch_id'])
    op.create_index('ix_snapshot_item', 'snapshot_items', ['item_id', 'batch_id'])


def downgrade() -> None:
    """Back to whole batches (an increment's batch then shows only its changed rows)."""
    op.drop_index('ix_snapshot_item', table_name='snapshot_items')
    op.drop_index('ix_snapshot_region', table_name='snapshot_regions')
    op.drop_index('ix_snapshot_parent', table_name='snapshot_regions')
    op.create_index('ix_snapshot_parent', 'snapshot_regions', ['batch_id', 'parent_code'])
    with op.batch_alter_table('snapshot_items') as b:
        b.drop_column('valid_to')
    with op.batch_alter_table('snapshot_regions') as b:
        b.drop_column('valid_to')
    with op.batch_alter_table('refresh_runs') as b:
        b.drop_column('chain_id')
