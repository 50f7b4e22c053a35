"""Production: shift calendars, products and ideal cycle times, the downtime reason tree,
downtimes, counts and the OEE series (docs/oee.md)."""

from app.blueprints.machines.models import MachineRecord
from app.core.extensions import db
from app.core.models import ChoiceLabel, TimestampMixin, UTCDateTime, unique_while, utcnow

DOWNTIME_SOURCES = ("issue", "andon", "manual")

# The six big losses; each reason names one. The first two cost availability, the next two
# performance, the last two quality (a reason with a quality loss is a reject reason).
LOSSES = (("breakdown", "Equipment failure"), ("setup", "Setup and adjustments"),
          ("small_stop", "Idling and minor stops"), ("reduced_speed", "Reduced speed"),
          ("startup_reject", "Startup rejects"), ("production_reject", "Production rejects"))
QUALITY_LOSSES = frozenset({"startup_reject", "production_reject"})

# Calendar exceptions: the first two take production away, the last two add it.
EXCEPTION_KINDS = (("holiday", "Holiday"), ("shutdown", "Shutdown"),
                   ("overtime", "Overtime"), ("extra_shift", "Extra shift"))
CLOSING_KINDS = frozenset({"holiday", "shutdown"})

OEE_PERIODS = (("hour", "Hour"), ("shift", "Shift"), ("day", "Day"))


# --- shift calendars ------------------------------------------------------------------------

class ShiftPattern(TimestampMixin, db.Model):
    """Shifts repeating over a cycle of days: 7 for a week (day 1 = Monday), or any number
    for a rotation counted from `cycle_start`."""

    __tablename__ = "shift_patterns"

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(120), nullable=False, unique=True)
    description = db.Column(db.Text, nullable=False, default="")
    cycle_days = db.Column(db.Integer, nullable=False, default=7)
    cycle_start = db.Column(db.Date)
    shifts = db.relationship("Shift", back_populates="pattern", cascade="all, delete-orphan",
                             order_by="(Shift.starts, Shift.id)")

    @property
    def weekly(self):
        return self.cycle_days == 7 and self.cycle_start is None

    def day_number(self, day):
        """1-based day of the cycle that the calendar date `day` is."""
        if self.weekly:
            return day.isoweekday()
        return (day - self.cycle_start).days % self.cycle_days + 1


class Shift(db.Model):
    """A shift: wall-clock start and end in the plant's zone (end ≤ start runs past midnight)
    on some days of its pattern's cycle."""

    __tablename__ = "shifts"

    id = db.Column(db.Integer, primary_key=True)
    pattern_id = db.Column(db.ForeignKey("shift_patterns.id", ondelete="CASCADE"),
                           nullable=False, index=True)
    pattern = db.relationship(ShiftPattern, back_populates="shifts")
    name = db.Column(db.String(60), nullable=False)
    starts = db.Column(db.Time, nullable=False)
    ends = db.Column(db.Time, nullable=False)
    days = db.Column(db.String(400), nullable=False)  # cycle day numbers, "1 2 3 4 5"
    breaks = db.relationship("ShiftBreak", back_populates="shift", cascade="all, delete-orphan",
                             order_by="(ShiftBreak.starts, ShiftBreak.id)")

    @property
    def day_numbers(self):
        return sorted(int(d) for d in self.days.split())


class ShiftBreak(db.Model):
    """A planned stop inside a shift (a break, a meeting): not planned production time."""

    __tablename__ = "shift_breaks"

    id = db.Column(db.Integer, primary_key=True)
    shift_id = db.Column(db.ForeignKey("shifts.id", ondelete="CASCADE"), nullable=False,
                         index=True)
    shift = db.relationship(Shift, back_populates="breaks")
    name = db.Column(db.String(60), nullable=False)
    starts = db.Column(db.Time, nullable=False)
    ends = db.Column(db.Time, nullable=False)


class LinePattern(TimestampMixin, db.Model):
    """A line works to a pattern from a date on, until its next assignment."""

    __tablename__ = "line_patterns"
    __table_args__ = (db.UniqueConstraint("line_id", "effective_from"),)

    id = db.Column(db.Integer, primary_key=True)
    line_id = db.Column(db.ForeignKey("lines.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    line = db.relationship("Line")
    pattern_id = db.Column(db.ForeignKey("shift_patterns.id", ondelete="CASCADE"),
                           nullable=False, index=True)
    pattern = db.relationship(ShiftPattern)
    effective_from = db.Column(db.Date, nullable=False)


class CalendarException(TimestampMixin, db.Model):
    """Days off (holiday, shutdown) or added time (overtime, extra shift) for a date range,
    on one line or, without a line, the whole plant."""

    __tablename__ = "calendar_exceptions"

    id = db.Column(db.Integer, primary_key=True)
    line_id = db.Column(db.ForeignKey("lines.id", ondelete="CASCADE"), index=True)
    line = db.relationship("Line")
    kind = db.Column(db.String(16), nullable=False)
    kind_label = ChoiceLabel("kind", EXCEPTION_KINDS)
    name = db.Column(db.String(120), nullable=False)
    first_day = db.Column(db.Date, nullable=False)
    last_day = db.Column(db.Date, nullable=False)
    starts = db.Column(db.Time)  # added time only: wall clock, each day of the range
    ends = db.Column(db.Time)

    @property
    def closes(self):
        return self.kind in CLOSING_KINDS


# --- products -------------------------------------------------------------------------------

class Product(TimestampMixin, db.Model):
    __tablename__ = "products"

    id = db.Column(db.Integer, primary_key=True)
    code = db.Column(db.String(40), nullable=False, unique=True)
    name = db.Column(db.String(120), nullable=False)
    description = db.Column(db.Text, nullable=False, default="")
    active = db.Column(db.Boolean, nullable=False, default=True)
    cycles = db.relationship("IdealCycle", back_populates="product",
                             cascade="all, delete-orphan", order_by="IdealCycle.id")

    def __str__(self):
        return f"{self.code} {self.name}"


class IdealCycle(db.Model):
    """The fastest a line or one machine makes one piece of a product, in seconds."""

    __tablename__ = "ideal_cycles"
    __table_args__ = (
        db.CheckConstraint("(line_id IS NULL) <> (machine_id IS NULL)", name="one_place"),
        db.CheckConstraint("seconds > 0", name="positive"),
        db.UniqueConstraint("product_id", "line_id", "machine_id"),
    )

    id = db.Column(db.Integer, primary_key=True)
    product_id = db.Column(db.ForeignKey("products.id", ondelete="CASCADE"), nullable=False,
                           index=True)
    product = db.relationship(Product, back_populates="cycles")
    line_id = db.Column(db.ForeignKey("lines.id", ondelete="CASCADE"), index=True)
    line = db.relationship("Line")
    machine_id = db.Column(db.ForeignKey("machines.id", ondelete="CASCADE"), index=True)
    machine = db.relationship("Machine")
    seconds = db.Column(db.Float, nullable=False)

    @property
    def per_hour(self):
        return 3600 / self.seconds


# --- the reason tree ------------------------------------------------------------------------

class ReasonCategory(TimestampMixin, db.Model):
    __tablename__ = "reason_categories"

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(80), nullable=False, unique=True)
    reasons = db.relationship("Reason", back_populates="category",
                              order_by="Reason.name")


class Reason(TimestampMixin, db.Model):
    """Why a machine stopped or a part was rejected; one of the six big losses, planned or
    not. Retired (inactive) rather than deleted, since downtimes and counts name it."""

    __tablename__ = "reasons"
    __table_args__ = (db.UniqueConstraint("category_id", "name"),)

    id = db.Column(db.Integer, primary_key=True)
    category_id = db.Column(db.ForeignKey("reason_categories.id"), nullable=False, index=True)
    category = db.relationship(ReasonCategory, back_populates="reasons")
    name = db.Column(db.String(80), nullable=False)
    loss = db.Column(db.String(20), nullable=False)
    loss_label = ChoiceLabel("loss", LOSSES)
    planned = db.Column(db.Boolean, nullable=False, default=False)
    active = db.Column(db.Boolean, nullable=False, default=True)

    @property
    def is_reject_reason(self):
        return self.loss in QUALITY_LOSSES

    def __str__(self):
        return f"{self.category.name} › {self.name}"


# --- what happened --------------------------------------------------------------------------

class Downtime(MachineRecord, TimestampMixin, db.Model):
    """A stretch of time a machine could not run; open while ended_at is empty."""

    __tablename__ = "downtimes"

    started_at = db.Column(UTCDateTime(), nullable=False)
    ended_at = db.Column(UTCDateTime())
    reason = db.Column(db.String(200), nullable=False, default="")
    source = db.Column(db.String(16), nullable=False)
    issue_id = db.Column(db.ForeignKey("issues.id", ondelete="SET NULL"), index=True)
    reason_id = db.Column(db.ForeignKey("reasons.id"), index=True)
    coded_reason = db.relationship(Reason)

    @property
    def hours(self):
        end = self.ended_at or utcnow()
        return (end - self.started_at).total_seconds() / 3600


class ProductionCount(MachineRecord, db.Model):
    """Pieces a machine made in the moments up to `at`: good ones and rejects."""

    __tablename__ = "production_counts"
    __table_args__ = (db.Index("ix_production_counts_machine_at", "machine_id", "at"),
                      db.CheckConstraint("good >= 0 AND reject >= 0", name="not_negative"))

    at = db.Column(UTCDateTime(), nullable=False)
    good = db.Column(db.Integer, nullable=False, default=0)
    reject = db.Column(db.Integer, nullable=False, default=0)
    reject_reason_id = db.Column(db.ForeignKey("reasons.id"), index=True)
    reject_reason = db.relationship(Reason)
    product_id = db.Column(db.ForeignKey("products.id"), index=True)
    product = db.relationship(Product)
    created_at = db.Column(UTCDateTime(), nullable=False, default=utcnow)


class OeeCalculation(db.Model):
    """One bucket of the OEE series, of a machine (machine_id set) or a whole line.

    The sums are kept, not just the ratios, so buckets add up (a line is the sum of its
    machines) and the loss waterfall can be drawn from the row alone.
    """

    __tablename__ = "oee_calculations"
    __table_args__ = (
        unique_while("uq_oee_machine_bucket", "machine_id", "period", "starts_at",
                     condition="machine_id IS NOT NULL"),
        unique_while("uq_oee_line_bucket", "line_id", "period", "starts_at",
                     condition="machine_id IS NULL"),
        db.Index("ix_oee_line_period_starts", "line_id", "period", "starts_at"),
    )

    id = db.Column(db.Integer, primary_key=True)
    machine_id = db.Column(db.ForeignKey("machines.id", ondelete="CASCADE"), index=True)
    machine = db.relationship("Machine")
    line_id = db.Column(db.ForeignKey("lines.id", ondelete="CASCADE"))
    line = db.relationship("Line")
    period = db.Column(db.String(8), nullable=False)
    starts_at = db.Column(UTCDateTime(), nullable=False)
    ends_at = db.Column(UTCDateTime(), nullable=False)
    label = db.Column(db.String(80), nullable=False)
    planned_seconds = db.Column(db.Float, nullable=False, default=0)
    planned_stop_seconds = db.Column(db.Float, nullable=False, default=0)
    downtime_seconds = db.Column(db.Float, nullable=False, default=0)
    small_stop_seconds = db.Column(db.Float, nullable=False, default=0)
    run_seconds = db.Column(db.Float, nullable=False, default=0)
    ideal_seconds = db.Column(db.Float, nullable=False, default=0)
    total_count = db.Column(db.Integer, nullable=False, default=0)
    good_count = db.Column(db.Integer, nullable=False, default=0)
    reject_count = db.Column(db.Integer, nullable=False, default=0)
    unrated_count = db.Column(db.Integer, nullable=False, default=0)
    availability = db.Column(db.Float)
    performance = db.Column(db.Float)
    quality = db.Column(db.Float)
    oee = db.Column(db.Float)
    performance_over = db.Column(db.Boolean, nullable=False, default=False)
    computed_at = db.Column(UTCDateTime(), nullable=False, default=utcnow)

    @property
    def planned(self):
        """False means "no planned production", which is not 0 %."""
        return self.planned_seconds > 0
