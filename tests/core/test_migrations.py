"""`flask db upgrade` on an empty database must build exactly what the models describe."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.core.extensions import db
from app.schema import include_object


def test_migrations_match_the_models(app):
    # The session schema was built by the migrations alone (see conftest's app fixture).
    connection = db.engine  # the test's connection, standing in for the engine
    context = MigrationContext.configure(connection, opts={
        "compare_type": True, "include_object": include_object})
    differences = compare_metadata(context, db.metadata)
    assert differences == []


@pytest.mark.live  # DDL for real, outside the test's rolled-back transaction
def test_downgrade_and_upgrade_again(app):
    """Every migration can be undone, so a bad deploy can be rolled back."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect

    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade()
    assert "machines" in inspect(db.engine).get_table_names()
