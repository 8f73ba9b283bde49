"""incremental refresh (issue 13): marks of changed regions, per-region state, its base

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 17:00:00

refresh_marks: a region whose parts changed, written by the importer in the change's
transaction ("*": the region tree changed, refresh fully). refresh_state: each region's
rolled-up parts and list keys as of the batch named in refresh_base. No data to migrate:
the first refresh after the upgrade is a full one and fills both.
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create refresh_marks, refresh_state and refresh_base."""
    op.create_table(
        'refresh_marks',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('code', sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'refresh_state',
        sa.Column('region_code', sa.String(12), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('region_code'),
    )
    op.create_table(
        'refresh_base',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('tz', sa.String(64), nullable=False),
        sa.Column('version', sa.String(40), nullable=False),
        sa.Column('regions_hash', sa.String(40), nullable=False),
        sa.Column('items_full', sa.Integer(), nullable=False),
        sa.Column('items_added', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    """Drop the incremental refresh's tables (refreshes are then full)."""
    op.drop_table('refresh_base')
    op.drop_table('refresh_state')
    op.drop_table('refresh_marks')
