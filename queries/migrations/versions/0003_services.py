"""services and the full-employment review (SPEC section 6): new kinds and columns

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:30:00

Tables job_fairs, trainings, interviews, loans and surveys (SPEC 6.1), and the optional
columns persons.unemployed_since and employers.registered_on (old rows keep null).
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the section 6 tables and columns."""
    op.create_table('job_fairs',
    sa.Column('fair_id', sa.String(length=64), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('mode', sa.String(length=12), nullable=False),
    sa.Column('employers', sa.Integer(), nullable=True),
    sa.Column('posts', sa.Integer(), nullable=True),
    sa.Column('visitors', sa.Integer(), nullable=True),
    sa.Column('intentions', sa.Integer(), nullable=True),
    sa.Column('views', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('fair_id')
    )
    with op.batch_alter_table('job_fairs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_fairs_held_on'), ['held_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_job_fairs_region_code'), ['region_code'], unique=False)

    op.create_table('trainings',
    sa.Column('training_id', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('started_on', sa.Date(), nullable=False),
    sa.Column('completed_on', sa.Date(), nullable=True),
    sa.Column('certified', sa.Boolean(), nullable=True),
    sa.Column('subsidised', sa.Boolean(), nullable=True),
    sa.PrimaryKeyConstraint('training_id')
    )
    with op.batch_alter_table('trainings', schema=None) as batch_op:
        batch_op.create_index('ix_trainings_community_on', ['community_code', 'started_on'], unique=False)

    op.create_table('interviews',
    sa.Column('interview_id', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.Column('vacancy_id', sa.String(length=64), nullable=True),
    sa.Column('community_code', sa.String(length=12), nullable=False),
    sa.Column('held_at', sa.DateTime(), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=True),
    sa.PrimaryKeyConstraint('interview_id')
    )
    with op.batch_alter_table('interviews', schema=None) as batch_op:
        batch_op.create_index('ix_interviews_community_on', ['community_code', 'held_on'], unique=False)

    op.create_table('loans',
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=False),
    sa.Column('granted_on', sa.Date(), nullable=False),
    sa.Column('amount', sa.Float(), nullable=False),
    sa.Column('jobs_created', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('loan_id')
    )
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.create_index('ix_loans_community_on', ['community_code', 'granted_on'], unique=False)

    op.create_table('surveys',
    sa.Column('response_id', sa.String(length=64), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=False),
    sa.Column('answered_on', sa.Date(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('service', sa.String(length=16), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=True),
    sa.PrimaryKeyConstraint('response_id')
    )
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.create_index('ix_surveys_community_on', ['community_code', 'answered_on'], unique=False)

    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unemployed_since', sa.Date(), nullable=True))
    with op.batch_alter_table('employers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('registered_on', sa.Date(), nullable=True))


def downgrade() -> None:
    """Drop what upgrade created."""
    with op.batch_alter_table('employers', schema=None) as batch_op:
        batch_op.drop_column('registered_on')
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_column('unemployed_since')
    for table in ('surveys', 'loans', 'interviews', 'trainings', 'job_fairs'):
        op.drop_table(table)
