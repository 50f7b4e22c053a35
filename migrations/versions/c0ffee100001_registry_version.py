"""registry version: a number the machine registry's triggers change on every write

Revision ID: c0ffee100001
Revises: 42d82ca6bfe4
Create Date: 2026-11-30 19:40:00

Every web, worker and poll process caches the machine lookup (code or vendor id → machine,
type, metrics, webhook secret) and trusts it only while `registry_versions.version` is the
value it was built at. Triggers keep the number moving, whatever writes the tables (the app,
a migration, psql). PostgreSQL: one statement-level trigger per table, the value from a
sequence (never reused, even after a rollback). SQLite (the demo): row triggers, a random
value. The triggers insert the row if it is gone (a TRUNCATE of every table), so the
number can never stand still.
"""
from alembic import op
import sqlalchemy as sa

revision = 'c0ffee100001'
down_revision = '42d82ca6bfe4'
branch_labels = None
depends_on = None

# table → the version its writes move: the machine registry, and the alert rules (whose
# per-process cache, alerts/rules.py, reads the same table).
TABLES = {"machines": "machines", "machine_types": "machines", "metrics": "machines",
          "alert_rules": "alert_rules"}


def upgrade():
    op.create_table(
        'registry_versions',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name'))
    op.execute("INSERT INTO registry_versions (name, version) VALUES ('machines', 1), "
               "('alert_rules', 1)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE registry_version_seq START 2")
        op.execute(
            "CREATE FUNCTION bump_registry_version() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN INSERT INTO registry_versions (name, version) "
            "VALUES (TG_ARGV[0], nextval('registry_version_seq')) "
            "ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version; "
            "RETURN NULL; END $$")
        for table, name in TABLES.items():
            op.execute(f"CREATE TRIGGER {table}_registry_version AFTER INSERT OR UPDATE OR "
                       f"DELETE OR TRUNCATE ON {table} FOR EACH STATEMENT "
                       f"EXECUTE FUNCTION bump_registry_version('{name}')")
        return
    for table, name in TABLES.items():
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_registry_{event.lower()} AFTER {event} ON "
                       f"{table} BEGIN INSERT OR REPLACE INTO registry_versions (name, version) "
                       f"VALUES ('{name}', abs(random())); END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER {table}_registry_version ON {table}")
        op.execute("DROP FUNCTION bump_registry_version()")
        op.execute("DROP SEQUENCE registry_version_seq")
    else:
        for table in TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER {table}_registry_{event}")
    op.drop_table('registry_versions')
