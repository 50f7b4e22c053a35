"""What Alembic compares: the models, minus what they cannot describe."""

from app.blueprints.telemetry.partitions import is_partition_table


def include_object(obj, name, type_, reflected, compare_to):
    """Leave alone monthly partitions of readings (made by a job) and full-text expression
    indexes (made in migrations with SQL)."""
    if not reflected or compare_to is not None:
        return True
    if type_ == "table":
        return not is_partition_table(name)
    return not (type_ == "index" and name.endswith("_search"))
