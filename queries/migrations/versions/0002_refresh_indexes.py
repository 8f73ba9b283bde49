"""indexes for the refresh: placements by community, newest first, covering

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 07:15:00

The panel list "latest placements" takes each community's newest placements by
(placed_at, placement_id); with this index that is one short backward index range per
community instead of ranking every placement ever made. It also carries placed_on, form
and vacancy_id, so the per-community placement counts and the 3-km join read this index
in community order instead of fetching every table row (SQLite); it costs about the
size of the placements table again.
"""
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        'ix_placements_community_at', 'placements',
        ['community_code', 'placed_at', 'placement_id', 'placed_on', 'form', 'vacancy_id'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index('ix_placements_community_at', table_name='placements')
