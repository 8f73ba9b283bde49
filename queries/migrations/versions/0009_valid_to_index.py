"""indexes for increments (issue 13): replaced snapshot rows, vacancies by place

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 00:10:00

Prune deletes the rows and items replaced before the oldest kept batch
(`valid_to <= oldest`). Most rows are current (valid_to NULL), so where the database
has partial indexes (PostgreSQL, SQLite) only the replaced ones are indexed. An increment
reads the vacancies within 3 km of its communities as rectangles of lat and lon.
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

WHERE = sa.text("valid_to IS NOT NULL")


def upgrade() -> None:
    """Index valid_to of snapshot_regions and snapshot_items, and vacancies' places."""
    op.create_index("ix_vacancies_lat_lon", "vacancies", ["lat", "lon"])
    for table in ("snapshot_regions", "snapshot_items"):
        op.create_index(f"ix_{table}_valid_to", table, ["valid_to"],
                        postgresql_where=WHERE, sqlite_where=WHERE)


def downgrade() -> None:
    """Drop the valid_to and place indexes."""
    op.drop_index("ix_vacancies_lat_lon", table_name="vacancies")
    for table in ("snapshot_items", "snapshot_regions"):
        op.drop_index(f"ix_{table}_valid_to", table_name=table)
