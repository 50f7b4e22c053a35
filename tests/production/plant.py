"""A small plant for the production tests: one line, one machine, a weekly 3 × 8 pattern,
a product and a reason tree. Plant zone: Europe/Berlin (the default PLANT_TIMEZONE).
Loaded as a pytest plugin by tests/conftest.py, so, like the factories, it imports the app
inside the fixture: the database URL is set after plugins load.
"""

from datetime import date, time

import pytest

MON_TO_FRI = [1, 2, 3, 4, 5]


@pytest.fixture
def plant(make_line, make_machine):
    """Early 06–14 with a 10:00–10:30 break, Late 14–22, Night 22–06, Monday to Friday;
    product P-1 at an ideal 30 s a piece on the line."""
    from app.blueprints.production import setup
    from app.blueprints.production.models import (
        Product,
        Reason,
        ReasonCategory,
        Shift,
        ShiftBreak,
        ShiftPattern,
    )
    from app.core.extensions import db

    line = make_line(code="L-A", name="Line A")
    machine = make_machine(code="PRESS-1", line=line)
    pattern = setup.save_pattern(ShiftPattern(), "3 x 8 weekdays", 7)
    early = setup.save_shift(pattern, Shift(), "Early", time(6), time(14), MON_TO_FRI)
    setup.save_break(early, ShiftBreak(), "Break", time(10), time(10, 30))
    setup.save_shift(pattern, Shift(), "Late", time(14), time(22), MON_TO_FRI)
    setup.save_shift(pattern, Shift(), "Night", time(22), time(6), MON_TO_FRI)
    setup.assign_pattern(line, pattern, date(2026, 1, 1))
    product = setup.save_product(Product(), "P-1", "Bracket")
    setup.set_ideal_cycle(product, 30, line=line)
    mechanical = setup.save_category(ReasonCategory(), "Mechanical")
    planned = setup.save_category(ReasonCategory(), "Planned")
    quality = setup.save_category(ReasonCategory(), "Quality")
    reasons = {
        "breakdown": setup.save_reason(Reason(), mechanical, "Tool breakage", "breakdown"),
        "maintenance": setup.save_reason(Reason(), planned, "Planned maintenance", "setup",
                                         planned=True),
        "scratch": setup.save_reason(Reason(), quality, "Scratch", "production_reject"),
    }
    db.session.commit()
    return {"line": line, "machine": machine, "pattern": pattern, "product": product,
            "reasons": reasons}
