"""services and the full-employment review (SPEC section 6): new kinds and columns

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:30:00
"""
from alembic import op  # noqa: F401


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the section 6 tables and columns (filled in by the services work)."""


def downgrade() -> None:
    """Drop what upgrade created."""
