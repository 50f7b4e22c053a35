"""andon calls, escalation levels and their history

Revision ID: a1e7c0de0002
Revises: a1e7c0de0001
Create Date: 2026-11-30 06:05:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'a1e7c0de0002'
down_revision = 'a1e7c0de0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('escalation_levels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('after_minutes', sa.Integer(), nullable=False),
    sa.Column('roles', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_levels')),
    sa.UniqueConstraint('priority', 'stage', 'level', name=op.f('uq_escalation_levels_priority_stage_level'))
    )
    op.create_table('andon_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('machine_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('photo_name', sa.String(length=64), nullable=True),
    sa.Column('photo_type', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('raised_by_id', sa.Integer(), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=False),
    sa.Column('ack_level', sa.Integer(), nullable=False),
    sa.Column('resolve_level', sa.Integer(), nullable=False),
    sa.Column('downtime_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['users.id'], name=op.f('fk_andon_calls_acknowledged_by_id_users')),
    sa.ForeignKeyConstraint(['downtime_id'], ['downtimes.id'], name=op.f('fk_andon_calls_downtime_id_downtimes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['machine_id'], ['machines.id'], name=op.f('fk_andon_calls_machine_id_machines'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['raised_by_id'], ['users.id'], name=op.f('fk_andon_calls_raised_by_id_users')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], name=op.f('fk_andon_calls_resolved_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_andon_calls'))
    )
    with op.batch_alter_table('andon_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_andon_calls_machine_id'), ['machine_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_andon_calls_raised_at'), ['raised_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_andon_calls_status'), ['status'], unique=False)
        batch_op.create_index('uq_andon_calls_active_machine_kind', ['machine_id', 'kind'], unique=True, postgresql_where=sa.text('resolved_at IS NULL'), sqlite_where=sa.text('resolved_at IS NULL'))
    op.create_table('andon_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('level', sa.Integer(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_andon_events_actor_id_users')),
    sa.ForeignKeyConstraint(['call_id'], ['andon_calls.id'], name=op.f('fk_andon_events_call_id_andon_calls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_andon_events'))
    )
    with op.batch_alter_table('andon_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_andon_events_call_id'), ['call_id'], unique=False)


def downgrade():
    with op.batch_alter_table('andon_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_andon_events_call_id'))
    op.drop_table('andon_events')
    with op.batch_alter_table('andon_calls', schema=None) as batch_op:
        batch_op.drop_index('uq_andon_calls_active_machine_kind', postgresql_where=sa.text('resolved_at IS NULL'), sqlite_where=sa.text('resolved_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_andon_calls_status'))
        batch_op.drop_index(batch_op.f('ix_andon_calls_raised_at'))
        batch_op.drop_index(batch_op.f('ix_andon_calls_machine_id'))
    op.drop_table('andon_calls')
    op.drop_table('escalation_levels')
