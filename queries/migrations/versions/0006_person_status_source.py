"""a new placement changes the person's status (SPEC 7): where a status came from

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 13:10:00

persons gains status_on (the local date its status holds from), status_source (None for a
persons record, "placement") and record_status / record_seeking (what the last record
said while a placement's status stands). Existing persons get status_on = the upgrade's
date, so placements dated before the upgrade do not rewrite their status.
Also an index on outbox_events (state, next_attempt_at): while the receiver is down, the
pusher finds the due events without walking every waiting one.
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the status source columns to persons and the outbox's due-time index."""
    with op.batch_alter_table('persons') as batch:
        batch.add_column(sa.Column('status_on', sa.Date(), nullable=True))
        batch.add_column(sa.Column('status_source', sa.String(12), nullable=True))
        batch.add_column(sa.Column('record_status', sa.String(12), nullable=True))
        batch.add_column(sa.Column('record_seeking', sa.Boolean(), nullable=True))
    op.execute(sa.text("UPDATE persons SET status_on = CURRENT_DATE"))
    op.create_index('ix_outbox_state_next', 'outbox_events', ['state', 'next_attempt_at'])


def downgrade() -> None:
    """Drop the status source columns (a placement's status stays as the status)."""
    op.drop_index('ix_outbox_state_next', table_name='outbox_events')
    with op.batch_alter_table('persons') as batch:
        batch.drop_column('record_seeking')
        batch.drop_column('record_status')
        batch.drop_column('status_source')
        batch.drop_column('status_on')
