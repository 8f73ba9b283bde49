"""snapshots that do not repeat (issue 13): list items stored once per batch

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 10:05:00

snapshot_items holds each list item's JSON once per batch (item 0: the batch's layout);
regions' lists refer to items by id and metrics are stored by position. Older batches
keep their unpacked rows, which readers still accept.
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create snapshot_items."""
    op.create_table(
        'snapshot_items',
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['batch_id'], ['refresh_runs.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('batch_id', 'item_id'),
    )


def downgrade() -> None:
    """Drop snapshot_items (batches written in the packed form become unreadable)."""
    op.drop_table('snapshot_items')
