"""Telemetry rows: stored readings, each machine's latest state, poll cycles."""

from sqlalchemy.dialects.postgresql import JSONB

from app.blueprints.machines.models import Machine
from app.core.extensions import db
from app.core.models import UTCDateTime, utcnow

JSONValue = db.JSON().with_variant(JSONB(), "postgresql")


class Reading(db.Model):
    """A stored reading: only readings whose values changed are kept (see services.ingest).

    The key is (machine, device time), so a reading delivered twice is stored once. On
    PostgreSQL the table is partitioned by month on `ts` (see the migration and
    partitions.py); elsewhere it is a plain table with the same key.
    """

    __tablename__ = "readings"

    machine_id = db.Column(db.ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True)
    ts = db.Column(UTCDateTime(), primary_key=True)
    received_at = db.Column(UTCDateTime(), nullable=False)
    values = db.Column(JSONValue, nullable=False)
    source = db.Column(db.String(16), nullable=False)

    __table_args__ = (
        # BRIN: nearly free to keep on an append-only table; the roll-up job finds the
        # readings received since its last run (late ones included) through it.
        db.Index("ix_readings_received_at", "received_at", postgresql_using="brin"),
        {"postgresql_partition_by": "RANGE (ts)"},
    )


class MachineState(db.Model):
    """The latest state of one machine, so pages never scan the readings."""

    __tablename__ = "machine_states"

    machine_id = db.Column(db.ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True)
    machine = db.relationship(Machine, back_populates="state")
    values = db.Column(JSONValue, nullable=False, default=dict)
    reading_ts = db.Column(UTCDateTime())        # device time of the latest stored
    last_seen_at = db.Column(UTCDateTime())      # any reading, changed or not
    last_changed_at = db.Column(UTCDateTime())   # when a changed reading arrived
    # The last values of the type's trend metric, for the tile's sparkline without a query.
    trend = db.Column(JSONValue, nullable=False, default=list)
    readings_stored = db.Column(db.BigInteger, nullable=False, default=0)
    readings_unchanged = db.Column(db.BigInteger, nullable=False, default=0)
    reachable = db.Column(db.Boolean)                          # None: never polled
    last_error = db.Column(db.Text)
    last_polled_at = db.Column(UTCDateTime())
    poll_failures = db.Column(db.Integer, nullable=False, default=0)


class PollCycle(db.Model):
    """One run of the 20-second poll, kept so people can see it keeps up."""

    __tablename__ = "poll_cycles"

    id = db.Column(db.Integer, primary_key=True)
    started_at = db.Column(UTCDateTime(), nullable=False, index=True)
    duration_ms = db.Column(db.Integer, nullable=False, default=0)
    machines = db.Column(db.Integer, nullable=False, default=0)
    failures = db.Column(db.Integer, nullable=False, default=0)
    stored = db.Column(db.Integer, nullable=False, default=0)
    skipped = db.Column(db.Boolean, nullable=False, default=False)  # the last one still ran


class ReadingCorrection(db.Model):
    """A stored reading changed or deleted by an admin: who, when, before and after, why.

    Readings are evidence (alerts, meters and reports were made from them), so they never
    change silently. The row keeps the reading's key, not a foreign key: a deleted reading
    is gone from `readings` but its record stays.
    """

    __tablename__ = "reading_corrections"

    id = db.Column(db.Integer, primary_key=True)
    machine_id = db.Column(db.ForeignKey("machines.id", ondelete="CASCADE"), nullable=False)
    ts = db.Column(UTCDateTime(), nullable=False)
    action = db.Column(db.String(16), nullable=False)  # "corrected" or "deleted"
    before = db.Column(JSONValue, nullable=False)
    after = db.Column(JSONValue)                        # None: deleted
    reason = db.Column(db.Text, nullable=False)
    actor_id = db.Column(db.ForeignKey("users.id"), nullable=False)
    actor = db.relationship("User")
    at = db.Column(UTCDateTime(), nullable=False, default=utcnow)

    __table_args__ = (db.Index("ix_reading_corrections_machine_id_ts", "machine_id", "ts"),)


class ReadingHour(db.Model):
    """One number or boolean metric of one machine over one UTC hour (see rollups.py).

    Every hour from the metric's first value up to the machine's rolled_to has a row, also
    the hours where no reading came: the value held (change-only storage) and belongs to
    them. `readings` and first/last/min/max count only readings stored in the hour (the
    chart's points); low/high/area/seconds cover the value the hour actually had, the held
    one included (the aggregates). Booleans count as 0/1.
    """

    __tablename__ = "reading_hours"

    machine_id = db.Column(db.ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True)
    # Key order (machine, time, metric): the job and the charts ask for one machine's
    # hours in a range, the plant figures for every machine's.
    hour = db.Column(UTCDateTime(), primary_key=True)
    metric = db.Column(db.String(64), primary_key=True)
    readings = db.Column(db.Integer, nullable=False)
    open_value = db.Column(db.Float)             # held when the hour began
    first_ts = db.Column(UTCDateTime())
    first_value = db.Column(db.Float)
    last_ts = db.Column(UTCDateTime())
    last_value = db.Column(db.Float)
    min_ts = db.Column(UTCDateTime())
    min_value = db.Column(db.Float)
    max_ts = db.Column(UTCDateTime())
    max_value = db.Column(db.Float)
    low = db.Column(db.Float, nullable=False)
    high = db.Column(db.Float, nullable=False)
    area = db.Column(db.Float, nullable=False)     # value × seconds, for the time-weighted mean
    seconds = db.Column(db.Float, nullable=False)  # seconds of the hour with a value


class ReadingDay(db.Model):
    """A UTC day of ReadingHour rows added up, for month-long aggregates across the plant."""

    __tablename__ = "reading_days"

    machine_id = db.Column(db.ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True)
    day = db.Column(UTCDateTime(), primary_key=True)
    metric = db.Column(db.String(64), primary_key=True)
    readings = db.Column(db.Integer, nullable=False)
    low = db.Column(db.Float, nullable=False)
    high = db.Column(db.Float, nullable=False)
    area = db.Column(db.Float, nullable=False)
    seconds = db.Column(db.Float, nullable=False)


class RollupProgress(db.Model):
    """How far a machine's roll-ups are complete: every hour before rolled_to is right."""

    __tablename__ = "rollup_progress"

    machine_id = db.Column(db.ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True)
    rolled_to = db.Column(UTCDateTime(), nullable=False)


class RollupWatermark(db.Model):
    """Readings received up to `received_to` have been looked at by the roll-up job."""

    __tablename__ = "rollup_watermarks"

    name = db.Column(db.String(32), primary_key=True)
    received_to = db.Column(UTCDateTime(), nullable=False)
