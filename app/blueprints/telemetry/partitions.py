"""Monthly partitions of the readings table on PostgreSQL (native declarative partitioning).

Readings land in readings_YYYY_MM; anything outside the prepared months goes to
readings_default. A daily job keeps the next months prepared. Old months can be detached
or dropped whole, which is how retention stays cheap on a big plant.
"""

from datetime import date

from sqlalchemy import text

PREFIX = "readings_"


def is_partition_table(name):
    """Partitions are not models; Alembic and the schema test must ignore them."""
    return name.startswith(PREFIX) and (name == "readings_default" or name[9:13].isdigit())


def _month(year, month):
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return date(year, month, 1)


def partition_name(first_day):
    return f"{PREFIX}{first_day:%Y_%m}"


def ensure_partitions(connection, today=None, months_ahead=2):
    """Create this month's and the next months' partitions; returns the names created.

    Does nothing on databases other than PostgreSQL.
    """
    if connection.dialect.name != "postgresql":
        return []
    today = today or date.today()
    created = []
    for offset in range(months_ahead + 1):
        start = _month(today.year, today.month + offset)
        end = _month(start.year, start.month + 1)
        name = partition_name(start)
        exists = connection.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar()
        if exists:
            continue
        connection.execute(text(
            f"CREATE TABLE {name} PARTITION OF readings "
            f"FOR VALUES FROM ('{start.isoformat()} 00:00+00') TO ('{end.isoformat()} 00:00+00')"))
        created.append(name)
    return created
