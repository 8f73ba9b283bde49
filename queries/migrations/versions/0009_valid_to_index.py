"""an index of replaced snapshot rows (issue 13): prune finds them without a full scan

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 00:10:00

Prune deletes the rows and items replaced before the oldest kept batch
(`valid_to <= oldest`). Most rows are current (valid_to NULL), so where the database
has partial indexes (PostgreSQL, SQLite) only the replaced ones are indexed.
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

WHERE = sa.text("valid_to IS NOT NULL")


def upgrade() -> None:
    """Index valid_to of snapshot_regions and snapshot_items."""
    for table in ("snapshot_regions", "snapshot_items"):
        op.create_index(f"ix_{table}_valid_to", table, ["valid_to"],
                        postgresql_where=WHERE, sqlite_where=WHERE)


def downgrade() -> None:
    """Drop the valid_to indexes."""
    for table in ("snapshot_items", "snapshot_regions"):
        op.drop_index(f"ix_{table}_valid_to", table_name=table)
