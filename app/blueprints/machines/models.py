from sqlalchemy.orm import declared_attr

from app.core import models as core
from app.core.extensions import db
from app.core.models import ChoiceLabel, TimestampMixin, UTCDateTime

METRIC_KINDS = ("number", "boolean", "text")
# Metrics with a meaning the rest of Floorline relies on (battery alerts, part counts, run time).
METRIC_ROLES = (("battery", "Battery level"), ("part_counter", "Part counter"),
                ("running", "Running flag"))
MACHINE_STATUSES = (("active", "In service"), ("maintenance", "Under maintenance"),
                    ("commissioning", "Commissioning"), ("retired", "Retired"))

machine_operators = core.link_table("machine_operators", ("machine_id", "machines.id"),
                               ("user_id", "users.id"))

line_operators = core.link_table("line_operators", ("line_id", "lines.id"),
                               ("user_id", "users.id"))


class MachineRecord:
    """A row about one machine (an issue, a task, a downtime ...), gone with the machine."""

    id = db.Column(db.Integer, primary_key=True)

    @declared_attr
    def machine_id(cls):
        return db.Column(db.ForeignKey("machines.id", ondelete="CASCADE"), nullable=False,
                         index=True)

    @declared_attr
    def machine(cls):
        return db.relationship("Machine")


class Coded:
    """A place in the plant with a short code and a name people know it by."""

    id = db.Column(db.Integer, primary_key=True)
    code = db.Column(db.String(32), nullable=False, unique=True)
    name = db.Column(db.String(120), nullable=False, unique=True)

    def __str__(self):
        return self.name


class Department(Coded, TimestampMixin, db.Model):
    __tablename__ = "departments"


class Line(Coded, TimestampMixin, db.Model):
    __tablename__ = "lines"

    department_id = db.Column(db.ForeignKey("departments.id"), index=True)
    department = db.relationship(Department, backref="lines")
    operators = db.relationship("User", secondary=line_operators, backref="lines",
                                order_by="User.username")


class MachineType(TimestampMixin, db.Model):
    __tablename__ = "machine_types"

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(120), nullable=False, unique=True)
    description = db.Column(db.Text, nullable=False, default="")
    metrics = db.relationship("Metric", back_populates="machine_type",
                              cascade="all, delete-orphan",
                              order_by="(Metric.position, Metric.id)")

    def metric(self, key):
        return next((m for m in self.metrics if m.key == key), None)

    def metric_with_role(self, role):
        return next((m for m in self.metrics if m.role == role), None)

    @property
    def trend_metric(self):
        """The metric a tile draws a sparkline of: the first number with a normal range."""
        numbers = [m for m in self.metrics if m.kind == "number" and m.role is None]
        ranged = [m for m in numbers if m.normal_min is not None or m.normal_max is not None]
        return (ranged or numbers or [None])[0]

    @property
    def tile_metrics(self):
        """Up to four number metrics worth showing on a tile, ranged ones first."""
        numbers = [m for m in self.metrics if m.kind == "number" and m.role != "part_counter"]
        numbers.sort(key=lambda m: (m.normal_min is None and m.normal_max is None,
                                    m.position))
        counter = self.metric_with_role("part_counter")
        return numbers[:3] + ([counter] if counter else numbers[3:4])

    def __str__(self):
        return self.name


class Metric(db.Model):
    """One value a machine type reports; types are data, so a new type needs no code."""

    __tablename__ = "metrics"

    id = db.Column(db.Integer, primary_key=True)
    machine_type_id = db.Column(db.ForeignKey("machine_types.id", ondelete="CASCADE"),
                                nullable=False)
    machine_type = db.relationship(MachineType, back_populates="metrics")
    key = db.Column(db.String(64), nullable=False)
    label = db.Column(db.String(120), nullable=False)
    unit = db.Column(db.String(32), nullable=False, default="")
    kind = db.Column(db.String(16), nullable=False, default="number")
    normal_min = db.Column(db.Float)
    normal_max = db.Column(db.Float)
    role = db.Column(db.String(32))
    position = db.Column(db.Integer, nullable=False, default=0)

    __table_args__ = (
        db.UniqueConstraint("machine_type_id", "key"),
        db.UniqueConstraint("machine_type_id", "role"),
    )

    @property
    def range_text(self):
        if self.normal_min is None and self.normal_max is None:
            return ""
        low = "" if self.normal_min is None else f"{self.normal_min:g}"
        high = "" if self.normal_max is None else f"{self.normal_max:g}"
        return f"{low} – {high} {self.unit}".strip()


class Machine(TimestampMixin, db.Model):
    __tablename__ = "machines"

    id = db.Column(db.Integer, primary_key=True)
    code = db.Column(db.String(32), nullable=False, unique=True)
    name = db.Column(db.String(120), nullable=False)
    machine_type_id = db.Column(db.ForeignKey("machine_types.id"), nullable=False, index=True)
    machine_type = db.relationship(MachineType, backref="machines")
    department_id = db.Column(db.ForeignKey("departments.id"), index=True)
    department = db.relationship(Department, backref="machines")
    line_id = db.Column(db.ForeignKey("lines.id"), index=True)
    line = db.relationship(Line, backref="machines")
    location = db.Column(db.String(120), nullable=False, default="")
    vendor_id = db.Column(db.String(120), unique=True)
    data_url = db.Column(db.String(500))
    webhook_secret = db.Column(db.String(128), nullable=False)
    polling_enabled = db.Column(db.Boolean, nullable=False, default=False)
    status = db.Column(db.String(16), nullable=False, default="active")
    notes = db.Column(db.Text, nullable=False, default="")
    # The vendor's id for our webhook subscription, once `machines subscribe` registered it.
    subscription_id = db.Column(db.String(120))
    subscribed_at = db.Column(UTCDateTime())
    operators = db.relationship("User", secondary=machine_operators, backref="machines",
                                order_by="User.username")
    state = db.relationship("MachineState", uselist=False, back_populates="machine")

    status_label = ChoiceLabel("status", MACHINE_STATUSES)

    def __str__(self):
        return f"{self.code} {self.name}"


class RegistryVersion(db.Model):
    """A number that changes whenever machines, machine types or metrics change.

    Database triggers (see the migration) set it from a sequence on every statement that
    writes those tables, so a value is never reused, even after a rollback. Every process
    keeps the machine lookup in memory (lookup.py) and trusts it only while this number is
    the one it was built at.
    """

    __tablename__ = "registry_versions"

    name = db.Column(db.String(32), primary_key=True)
    version = db.Column(db.BigInteger, nullable=False, default=0)
