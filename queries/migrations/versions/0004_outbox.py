"""outbound exchange (SPEC section 7): the outbox and the vacancy change cursor

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 09:30:00

outbox_events holds person-status and vacancy events written in the transaction of their
change, for the pusher; vacancy_changes is the outbound vacancy feed, numbered from the
feed_counters row, whose lock each writer holds until it commits (seq order = commit order).
"""
import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the outbox tables and the vacancy feed."""
    op.create_table(
        'outbox_events',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('event_id', sa.String(36), nullable=False),
        sa.Column('topic', sa.String(16), nullable=False),
        sa.Column('subject', sa.String(80), nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('state', sa.String(10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('delivered_at', sa.DateTime(), nullable=True),
    )
    op.create_index('ux_outbox_event_id', 'outbox_events', ['event_id'], unique=True)
    op.create_index('ix_outbox_state_id', 'outbox_events', ['state', 'id'])
    op.create_index('ix_outbox_subject_id', 'outbox_events', ['subject', 'id'])
    op.create_table(
        'vacancy_changes',
        sa.Column('seq', sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column('vacancy_id', sa.String(64), nullable=False),
        sa.Column('community_code', sa.String(12), nullable=False),
        sa.Column('record', sa.Text(), nullable=False),
        sa.Column('changed_at', sa.DateTime(), nullable=False),
    )
    counters = op.create_table(
        'feed_counters',
        sa.Column('name', sa.String(40), primary_key=True),
        sa.Column('value', sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(counters, [{'name': 'vacancies', 'value': 0}])


def downgrade() -> None:
    """Drop what upgrade created."""
    op.drop_table('feed_counters')
    op.drop_table('vacancy_changes')
    op.drop_index('ix_outbox_subject_id', table_name='outbox_events')
    op.drop_index('ix_outbox_state_id', table_name='outbox_events')
    op.drop_index('ux_outbox_event_id', table_name='outbox_events')
    op.drop_table('outbox_events')
