"""The OEE endpoints read the stored series (docs/oee.md); the figures are worked out by
hand. The plant (tests/production/plant.py): Europe/Berlin, Early 06:00–14:00 local with a
10:00–10:30 break, Late 14–22, Night 22–06, Monday to Friday; P-1 at 30 s a piece. November
is CET (UTC+1): Early is 05:00–13:00 UTC."""

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from app.blueprints.api.oee import current_of
from app.blueprints.production import services, setup
from app.blueprints.production.models import OeeCalculation, Shift, ShiftPattern
from app.core.extensions import db
from app.core.models import utcnow


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def plain_monday(plant):
    """2 Nov: a 30 min breakage 07:00–07:30 local, 700 good and 20 rejects in Early."""
    machine, product = plant["machine"], plant["product"]
    services.record_downtime(machine, utc(2026, 11, 2, 6), utc(2026, 11, 2, 6, 30),
                             plant["reasons"]["breakdown"])
    services.record_count(machine, utc(2026, 11, 2, 8), good=400, product=product)
    services.record_count(machine, utc(2026, 11, 2, 12), good=300, reject=20,
                          reject_reason_id=plant["reasons"]["scratch"].id, product=product)
    db.session.commit()


def test_line_series_by_shift_with_ratios_and_losses(api_as, plant):
    plain_monday(plant)
    api, _ = api_as("viewer")
    response = api.get(f"/api/v1/oee/lines/{plant['line'].id}?period=shift"
                       "&start=2026-11-02T00:00:00Z&end=2026-11-03T00:00:00Z")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["line"]["code"] == "L-A" and body["period"] == "shift"
    [early] = body["items"]
    # planned 8 h − 0.5 h break = 27 000 s; run 27 000 − 1 800 = 25 200 s;
    # A = 25 200 / 27 000; P = 720 × 30 / 25 200 = 21 600 / 25 200; Q = 700 / 720;
    # OEE = 700 × 30 / 27 000 = 21 000 / 27 000.
    assert early["label"] == "2026-11-02 Early"
    assert early["start"].startswith("2026-11-02T05:00:00")
    assert early["no_planned_production"] is False
    assert early["availability"] == pytest.approx(25200 / 27000)
    assert early["performance"] == pytest.approx(21600 / 25200)
    assert early["quality"] == pytest.approx(700 / 720)
    assert early["oee"] == pytest.approx(21000 / 27000)
    assert (early["good_count"], early["reject_count"]) == (700, 20)
    # Waterfall: 27 000 → −1 800 → 25 200 → −3 600 → 21 600 → −600 → 21 000 s.
    losses = {k: round(v) for k, v in early["losses"].items()}
    assert losses == {"planned_seconds": 27000, "availability_loss_seconds": 1800,
                      "run_seconds": 25200, "performance_loss_seconds": 3600,
                      "net_run_seconds": 21600, "quality_loss_seconds": 600,
                      "fully_productive_seconds": 21000}


def test_hours_and_no_planned_production_is_null_not_zero(api_as, plant):
    plain_monday(plant)
    # Sunday 8 Nov 10:00 local: no shift all day, yet 10 pieces were made.
    services.record_count(plant["machine"], utc(2026, 11, 8, 9), good=10,
                          product=plant["product"])
    db.session.commit()
    api, _ = api_as("production_manager")
    url = f"/api/v1/oee/lines/{plant['line'].id}"
    hours = api.get(f"{url}?period=hour&start=2026-11-02T06:00:00Z"
                    "&end=2026-11-02T07:00:00Z").json["items"]
    # 07:00–08:00 local holds the whole stop: A = 1 800 / 3 600; nothing counted: OEE 0.
    assert [(h["label"], h["availability"], h["oee"]) for h in hours] == \
        [("2026-11-02 07:00", 0.5, 0.0)]
    [sunday] = api.get(f"{url}?period=day&start=2026-11-07T23:00:00Z"
                         "&end=2026-11-08T23:00:00Z").json["items"]
    assert sunday["label"] == "2026-11-08"
    assert sunday["no_planned_production"] is True
    assert (sunday["availability"], sunday["performance"], sunday["quality"],
            sunday["oee"], sunday["losses"]) == (None, None, None, None, None)
    assert sunday["good_count"] == 10


def test_series_refuses_a_bad_or_too_wide_range_and_unknown_lines(api_as, plant):
    api, _ = api_as("viewer")
    url = f"/api/v1/oee/lines/{plant['line'].id}"
    wide = api.get(f"{url}?period=hour&start=2026-01-01T00:00:00Z&end=2026-03-01T00:00:00Z")
    assert wide.status_code == 422 and "31 days" in wide.json["error"]["fields"]["start"]
    empty = api.get(f"{url}?start=2026-03-01T00:00:00Z&end=2026-01-01T00:00:00Z")
    assert empty.status_code == 422 and empty.json["error"]["fields"]["end"]
    assert api.get(f"{url}?period=week").status_code == 422
    assert api.get("/api/v1/oee/lines/999999").status_code == 404


def test_operator_reads_only_lines_with_its_machines(api_as, plant, make_line, make_machine):
    plain_monday(plant)
    api, operator = api_as("operator")
    other = make_line(code="L-B", name="Line B")
    make_machine(code="OP-1", line=other, operators=[operator])
    assert api.get(f"/api/v1/oee/lines/{plant['line'].id}").status_code == 403
    assert api.get(f"/api/v1/dashboard/lines/{plant['line'].id}/oee").status_code == 403
    assert api.get(f"/api/v1/oee/lines/{other.id}").status_code == 200
    summary = api.get("/api/v1/oee/daily-summary?date=2026-11-02").json
    assert [i["line"]["code"] for i in summary["items"]] == ["L-B"]
    assert [i["line"]["code"] for i in api.get("/api/v1/oee/current").json["items"]] == ["L-B"]


def test_daily_summary_is_the_plant_local_day_per_line(api_as, plant, make_line):
    plain_monday(plant)
    make_line(code="L-Z", name="Idle line")
    api, _ = api_as("shift_manager")
    body = api.get("/api/v1/oee/daily-summary?date=2026-11-02").json
    # The plant day 2 Nov (CET) is 1 Nov 23:00 – 2 Nov 23:00 UTC.
    assert body["start"].startswith("2026-11-01T23:00:00")
    assert body["end"].startswith("2026-11-02T23:00:00")
    line_a, idle = body["items"]
    # Early 7.5 h + Late 8 h + Night 22:00–24:00 2 h = 17.5 h = 63 000 s planned;
    # run 63 000 − 1 800 = 61 200 s; ideal 720 × 30 = 21 600 s;
    # OEE = A × P × Q = (61 200/63 000) × (21 600/61 200) × (700/720) = 21 000 / 63 000.
    day = line_a["day"]
    assert (day["planned_seconds"], day["run_seconds"]) == (63000, 61200)
    assert day["oee"] == pytest.approx(21000 / 63000)
    assert line_a["no_planned_production"] is False
    assert [s["label"] for s in line_a["shifts"]] == ["2026-11-02 Early"]
    # A line with nothing stored that day: a clear null and flag, not 0 %.
    assert idle == {"line": {"id": idle["line"]["id"], "code": "L-Z", "name": "Idle line"},
                    "no_planned_production": True, "day": None, "shifts": []}
    bad = api.get("/api/v1/oee/daily-summary?date=2026-13-01")
    assert bad.status_code == 422 and "date" in bad.json["error"]["fields"]


def test_current_shift_so_far_takes_off_the_planned_time_still_ahead(app, plant):
    plain_monday(plant)
    # At 11:00 local (10:00 UTC) of Early: still ahead 11:00–14:00 = 3 h = 10 800 s, no break.
    # So far: planned 27 000 − 10 800 = 16 200 s (06:00–11:00 less the 30 min break);
    # run 16 200 − 1 800 = 14 400 s; A = 14 400 / 16 200.
    # The counts stored (the 12:00 UTC ones too, being in the bucket): 720 pieces,
    # P = 21 600 / 14 400 > 1: capped at 1 and flagged.
    [entry] = current_of([plant["line"]], utc(2026, 11, 2, 10))
    assert entry["no_planned_production"] is False
    assert entry["shift"]["label"] == "2026-11-02 Early"
    assert entry["shift"]["planned_seconds"] == 27000
    so_far = entry["so_far"]
    assert (so_far["planned_seconds"], so_far["run_seconds"]) == (16200, 14400)
    assert so_far["availability"] == pytest.approx(14400 / 16200)
    assert (so_far["performance"], so_far["performance_over_100"]) == (1.0, True)
    # Saturday: no shift runs, nothing stored.
    [weekend] = current_of([plant["line"]], utc(2026, 11, 7, 10))
    assert (weekend["no_planned_production"], weekend["shift"], weekend["so_far"]) == \
        (True, None, None)


def _round_the_clock(line):
    pattern = setup.save_pattern(ShiftPattern(), "2 x 12 every day", 7)
    setup.save_shift(pattern, Shift(), "Day", time(6), time(18), [1, 2, 3, 4, 5, 6, 7])
    setup.save_shift(pattern, Shift(), "Night", time(18), time(6), [1, 2, 3, 4, 5, 6, 7])
    setup.assign_pattern(line, pattern, (utcnow() - timedelta(days=3)).date())
    db.session.commit()


def test_current_and_dashboard_now(api_as, plant, make_line, make_machine):
    line = make_line(code="L-24", name="Round the clock")
    machine = make_machine(code="M-24", line=line)
    _round_the_clock(line)
    services.record_count(machine, utcnow(), good=5)
    db.session.commit()
    api, _ = api_as("engineer")
    items = {i["line"]["code"]: i for i in api.get("/api/v1/oee/current").json["items"]}
    now = items["L-24"]
    assert now["no_planned_production"] is False
    assert now["shift"]["total_count"] == 5 and now["so_far"]["total_count"] == 5
    assert now["so_far"]["planned_seconds"] <= now["shift"]["planned_seconds"]
    board = api.get(f"/api/v1/dashboard/lines/{line.id}/oee").json
    assert board["shift"]["label"] == now["shift"]["label"]
    assert board["today"]["total_count"] == 5
    assert sum(h["total_count"] for h in board["hours"]) == 5


def test_calculate_recomputes_a_range_for_managers_only(api_as, plant):
    plain_monday(plant)
    line = plant["line"]
    # Drop what was stored; a recompute of the Monday brings it back from the records.
    for row in db.session.scalars(select(OeeCalculation)):
        db.session.delete(row)
    db.session.commit()
    body = {"line_id": line.id, "start": "2026-11-02T05:00:00Z",
            "end": "2026-11-02T13:00:00Z"}
    viewer, _ = api_as("viewer")
    assert viewer.post("/api/v1/oee/calculate", json=body).status_code == 403
    api, _ = api_as("production_manager")
    response = api.post("/api/v1/oee/calculate", json=body)
    assert response.status_code == 200, response.json
    done = response.json
    # Early only: its 8 hours, one shift, one day (2 Nov) — every planned bucket now.
    assert done["buckets"] == {"hour": 8, "shift": 1, "day": 1}
    # A touched bucket is recomputed whole: the day is Early 7.5 h + Late 8 h + Night's
    # 22:00–24:00 2 h = 63 000 s planned, 63 000 − 1 800 = 61 200 s run.
    [day] = done["items"]
    assert (day["label"], day["planned_seconds"], day["run_seconds"]) == \
        ("2026-11-02", 63000, 61200)
    early = api.get(f"/api/v1/oee/lines/{line.id}?start=2026-11-02T00:00:00Z"
                    "&end=2026-11-03T00:00:00Z").json["items"]
    assert early[0]["oee"] == pytest.approx(21000 / 27000)


@pytest.mark.parametrize(("body", "field"), [
    ({"start": "2026-11-02T05:00:00Z", "end": "2026-11-02T04:00:00Z"}, "end"),
    ({"start": "2026-10-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"}, "end"),
    ({"start": "2099-01-01T00:00:00Z", "end": "2099-01-02T00:00:00Z"}, "start"),
    ({"start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:00Z"}, "end"),
    ({"start": "2026-11-02T05:00:00", "end": "2026-11-02T06:00:00Z"}, "start"),
])
def test_calculate_refuses_bad_ranges_and_changes_nothing(api_as, plant, body, field):
    api, _ = api_as("shift_manager")
    response = api.post("/api/v1/oee/calculate", json={"line_id": plant["line"].id, **body})
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]
    assert db.session.scalar(select(OeeCalculation).limit(1)) is None
