from app.extensions import db
from app.models_base import TimestampMixin

METRIC_KINDS = ("number", "boolean", "text")
# Metrics with a meaning the rest of Floorline relies on (battery alerts, part counts, run time).
METRIC_ROLES = (("battery", "Battery level"), ("part_counter", "Part counter"),
                ("running", "Running flag"))
MACHINE_STATUSES = (("active", "In service"), ("maintenance", "Under maintenance"),
                    ("commissioning", "Commissioning"), ("retired", "Retired"))

machine_operators = db.Table(
    "machine_operators",
    db.Column("machine_id", db.ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True),
    db.Column("user_id", db.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
              index=True),
)

line_operators = db.Table(
    "line_operators",
    db.Column("line_id", db.ForeignKey("lines.id", ondelete="CASCADE"), primary_key=True),
    db.Column("user_id", db.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
              index=True),
)


class Department(TimestampMixin, db.Model):
    __tablename__ = "departments"

    id = db.Column(db.Integer, primary_key=True)
    code = db.Column(db.String(32), nullable=False, unique=True)
    name = db.Column(db.String(120), nullable=False, unique=True)

    def __str__(self):
        return self.name


class Line(TimestampMixin, db.Model):
    __tablename__ = "lines"

    id = db.Column(db.Integer, primary_key=True)
    code = db.Column(db.String(32), nullable=False, unique=True)
    name = db.Column(db.String(120), nullable=False, unique=True)
    department_id = db.Column(db.ForeignKey("departments.id"), index=True)
    department = db.relationship(Department, backref="lines")
    operators = db.relationship("User", secondary=line_operators, backref="lines",
                                order_by="User.username")

    def __str__(self):
        return self.name


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
    operators = db.relationship("User", secondary=machine_operators, backref="machines",
                                order_by="User.username")

    @property
    def status_label(self):
        return dict(MACHINE_STATUSES).get(self.status, self.status)

    def __str__(self):
        return f"{self.code} {self.name}"
