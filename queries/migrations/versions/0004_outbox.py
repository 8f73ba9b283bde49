"""outbound exchange (SPEC section 7): the outbox and the vacancy change cursor

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 09:30:00
"""
from alembic import op  # noqa: F401


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the outbox tables and columns (filled in by the outbound work)."""


def downgrade() -> None:
    """Drop what upgrade created."""
