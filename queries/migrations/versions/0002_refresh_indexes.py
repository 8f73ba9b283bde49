"""indexes for the refresh: newest placements per community

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 07:15:00

The panel list "latest placements" takes each community's newest placements by
(placed_at, placement_id); with this index that is one short backward index range per
community instead of ranking every placement ever made.
"""
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        'ix_placements_community_at', 'placements',
        ['community_code', 'placed_at', 'placement_id'], unique=False,
    )


def downgrade() -> None:
    op.drop_index('ix_placements_community_at', table_name='placements')
