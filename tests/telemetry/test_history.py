"""The machine detail page: latest values, history chart, readings table and CSV export.

Readings are made with the real ingest service (change-only storage, partial readings), so
the chart's step semantics are tested on what production stores.
"""

import csv
import io
import json
import os
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import PASSWORD
from helpers import text_of

HX = {"HX-Request": "true"}
CHART_JSON_RE = re.compile(r'<script type="application/json" class="chart-data">(.*?)</script>', re.S)


# --- set-up ------------------------------------------------------------------------------

@pytest.fixture
def mill_type(app):
    """A type with a number (normal 20–70 °C), a running flag and a text metric."""
    from app.blueprints.machines import services
    from app.blueprints.machines.models import MachineType, Metric
    from app.core.extensions import db

    counter = iter(range(1, 10_000))

    def make():
        machine_type = services.save_machine_type(MachineType(), f"Mill type {next(counter)}")
        services.save_metric(machine_type, Metric(), "temperature", "Temperature", "°C",
                             "number", 20, 70)
        services.save_metric(machine_type, Metric(), "running", "Running", "", "boolean",
                             role="running")
        services.save_metric(machine_type, Metric(), "status", "Status", "", "text")
        db.session.commit()
        return machine_type
    return make


@pytest.fixture
def mill(make_machine, mill_type):
    return make_machine(code="MILL-01", name="Mill one", machine_type=mill_type())


def feed(machine, *readings, source="webhook", now=None):
    """Store readings given as (datetime, values) through the real ingest service."""
    from app.blueprints.telemetry.ingest import ingest
    from app.core.extensions import db

    result = ingest([{"ts": ts.isoformat(), "values": values} for ts, values in readings],
                    source, machine=machine, now=now)
    assert not result.rejected, result.rejected
    db.session.commit()
    return result


def utcnow():
    return datetime.now(UTC).replace(microsecond=0)


def chart_payload(response):
    match = CHART_JSON_RE.search(text_of(response))
    assert match, "no chart data on the page"
    return json.loads(match.group(1))


def series_of(payload, key):
    return next(s for s in payload["series"] if s["key"] == key)


def real_points(series):
    """(x, y) pairs without the empty ends that only stretch the time axis."""
    return [(x, y) for x, y in zip(series["x"], series["y"], strict=True) if y is not None]


# --- chart series --------------------------------------------------------------------------

def test_series_is_a_step_line_holding_values_from_before_the_range(logged_in, mill):
    now = utcnow()
    feed(mill, (now - timedelta(hours=10), {"temperature": 30.0, "running": True}),
         (now - timedelta(hours=2), {"temperature": 45.5}),
         (now - timedelta(hours=1), {"running": False}))
    browser, _ = logged_in("viewer")

    payload = chart_payload(browser.get(f"/telemetry/machines/{mill.id}/history?range=8h"))

    temperature = series_of(payload, "temperature")
    points = real_points(temperature)
    # Held from 10 h ago at the start, the change 2 h ago, held on to the last report.
    assert [y for _, y in points] == [30.0, 45.5, 45.5]
    assert points[0][0] == payload["from"]
    assert points[1][0] == (now - timedelta(hours=2)).timestamp()
    assert points[-1][0] <= payload["to"]
    # The running flag: not in the 2-hours-ago reading, yet it holds from before.
    running = series_of(payload, "running")
    assert [y for _, y in real_points(running)] == [1, 0, 0]
    assert running["true"] == "Running" and running["false"] == "Stopped"
    assert temperature["min"] == 20 and temperature["max"] == 70 and temperature["unit"] == "°C"
    assert "status" not in {s["key"] for s in payload["series"]}  # text is not charted


def test_a_silent_machines_line_stops_where_it_was_last_heard(app, mill):
    from app.blueprints.telemetry.series import metric_series

    now = utcnow()
    heard = now - timedelta(hours=3)
    feed(mill, (now - timedelta(hours=4), {"temperature": 50}), now=heard)
    metric = mill.machine_type.metric("temperature")

    series = metric_series(mill, metric, now - timedelta(hours=8), now,
                           until=mill.state.last_seen_at)

    assert [(x, y) for x, y in zip(series.xs, series.ys, strict=True) if y is not None] == [
        ((now - timedelta(hours=4)).timestamp(), 50.0), (heard.timestamp(), 50.0)]
    assert series.xs[-1] == now.timestamp() and series.ys[-1] is None
    # Quiet since before the range: nothing is known about the range at all.
    earlier = metric_series(mill, metric, now - timedelta(hours=2), now,
                            until=mill.state.last_seen_at)
    assert earlier.empty


def test_boolean_metric_is_charted_as_0_and_1(app, mill):
    from app.blueprints.telemetry.series import metric_series

    now = utcnow()
    feed(mill, *[(now - timedelta(minutes=50 - 10 * i), {"running": i % 2 == 0})
                 for i in range(5)])
    metric = mill.machine_type.metric("running")

    series = metric_series(mill, metric, now - timedelta(hours=1), now)

    assert [y for y in series.ys if y is not None] == [1, 0, 1, 0, 1, 1]
    assert not series.downsampled and series.stored == 5


def test_downsampling_keeps_spikes_and_caps_the_points(app, mill):
    from app.blueprints.telemetry.series import MAX_POINTS, metric_series

    now = utcnow()
    start = now - timedelta(hours=2)
    readings = [(start + timedelta(seconds=1.2 * i), {"temperature": 40 + (i % 7) * 0.5})
                for i in range(5000)]
    readings[2345] = (readings[2345][0], {"temperature": 612.0})   # one reading, one spike
    readings[3999] = (readings[3999][0], {"temperature": -15.0})   # and one dip
    feed(mill, *readings)
    metric = mill.machine_type.metric("temperature")

    series = metric_series(mill, metric, now - timedelta(hours=8), now)

    assert series.downsampled and series.stored == 5000
    assert len(series.xs) <= MAX_POINTS + 3
    values = [y for y in series.ys if y is not None]
    assert max(values) == 612.0 and min(values) == -15.0
    assert series.xs == sorted(series.xs)
    spike_at = readings[2345][0].timestamp()
    assert series.xs[series.ys.index(612.0)] == spike_at  # at its own time, not a bucket's
    # The last value is the real last value, carried to the end of what is known.
    assert values[-1] == readings[-1][1]["temperature"]


def test_machine_page_has_the_chart_and_the_latest_values(logged_in, mill):
    now = utcnow()
    feed(mill, (now - timedelta(minutes=30), {"temperature": 81.25, "running": True,
                                              "status": "Tool change"}))
    browser, _ = logged_in("viewer")

    html = text_of(browser.get(f"/machines/{mill.id}"))
    assert f'id="machine-{mill.id}-values"' in html
    assert f'id="machine-{mill.id}-chart"' in html
    assert "81.25" in html and "High" in html and "Running" in html and "Tool change" in html
    assert "Last seen" in html and "Last changed" in html
    assert "uPlot.iife.min.js" in html and "js/chart.js" in html
    # What the page showed before is still there.
    assert "What it reports" in html and "Vendor id" in html


# --- range selection ----------------------------------------------------------------------

@pytest.mark.parametrize(("preset", "seconds"), [("1h", 3600), ("8h", 8 * 3600),
                                                 ("24h", 86400), ("7d", 7 * 86400),
                                                 ("30d", 30 * 86400)])
def test_presets_choose_the_range(logged_in, mill, preset, seconds):
    feed(mill, (utcnow() - timedelta(minutes=10), {"temperature": 25}))
    browser, _ = logged_in("engineer")

    response = browser.get(f"/telemetry/machines/{mill.id}/history?range={preset}")

    assert response.status_code == 200
    payload = chart_payload(response)
    assert payload["to"] - payload["from"] == pytest.approx(seconds, abs=1)
    assert re.search(rf'value="{preset}" aria-pressed="true"', text_of(response))


def test_custom_range_in_the_browsers_time_zone(logged_in, mill):
    berlin = ZoneInfo("Europe/Berlin")
    day = (utcnow() - timedelta(days=2)).astimezone(berlin).replace(hour=8, minute=0, second=0)
    feed(mill, (day - timedelta(hours=1), {"temperature": 21}),
         (day + timedelta(hours=2), {"temperature": 33}),
         (day + timedelta(hours=5), {"temperature": 44}))
    browser, _ = logged_in("quality")

    local = f"{day:%Y-%m-%d}T08:00", f"{day:%Y-%m-%d}T12:00"
    response = browser.get(f"/telemetry/machines/{mill.id}/history", query_string={
        "range": "custom", "from": local[0], "to": local[1], "tz": "Europe/Berlin"})

    assert response.status_code == 200
    payload = chart_payload(response)
    assert payload["from"] == day.timestamp()
    assert payload["to"] == (day + timedelta(hours=4)).timestamp()
    assert [y for _, y in real_points(series_of(payload, "temperature"))] == [21, 33, 33]
    html = text_of(response)
    # The form shows the range again, in the zone it was typed in.
    assert f'value="{local[0]}"' in html and f'value="{local[1]}"' in html
    assert 'value="Europe/Berlin"' in html


@pytest.mark.parametrize(("query", "message"), [
    ({"range": "custom", "from": "yesterday"}, "is not a date and time"),
    ({"range": "custom", "from": "2026-11-20T10:00", "to": "2026-11-20T09:00"},
     "must be before its end"),
    ({"range": "custom", "from": ""}, "Choose when the custom range starts"),
    ({"range": "2y"}, "Unknown range"),
    ({"range": "1h", "tz": "Mars/Olympus_Mons"}, "Unknown time zone"),
])
def test_bad_ranges_get_a_clear_400(logged_in, mill, query, message):
    browser, _ = logged_in("viewer")

    response = browser.get(f"/telemetry/machines/{mill.id}/history", query_string=query)

    assert response.status_code == 400
    html = text_of(response)
    assert message in html and "<html" in html and 'role="alert"' in html
    # htmx gets the chart partial (422 swaps, see base.html) with the typed values.
    partial = browser.get(f"/telemetry/machines/{mill.id}/history", query_string=query, headers=HX)
    assert partial.status_code == 422
    assert message in text_of(partial) and "<html" not in text_of(partial)
    if query.get("from"):
        assert f'value="{query["from"]}"' in text_of(partial)


def test_history_returns_the_chart_partial_for_htmx(logged_in, mill):
    feed(mill, (utcnow() - timedelta(minutes=5), {"temperature": 25}))
    browser, _ = logged_in("maintenance")

    response = browser.get(f"/telemetry/machines/{mill.id}/history?range=1h", headers=HX)

    html = text_of(response)
    assert response.status_code == 200
    assert html.lstrip().startswith("<section")  # one root element…
    assert f'id="machine-{mill.id}-chart"' in html  # …with the id the form targets
    assert "<html" not in html and "Latest values" not in html
    assert "HX-Request" in response.headers["Vary"]
    assert chart_payload(response)["series"]
    full = browser.get(f"/telemetry/machines/{mill.id}/history?range=1h")
    assert "<html" in text_of(full) and "Latest values" in text_of(full)


def test_chart_queries_do_not_grow_with_the_readings(app, logged_in, mill, count_queries):
    browser, _ = logged_in("viewer")

    def queries_for_page():
        with count_queries() as statements:
            assert browser.get(f"/telemetry/machines/{mill.id}/history?range=24h").status_code == 200
        return len(statements)

    now = utcnow()
    feed(mill, *[(now - timedelta(hours=20, minutes=i), {"temperature": 20 + i % 50,
                                                         "running": i % 2 == 0})
                 for i in range(10)])
    few = queries_for_page()
    assert few >= 4  # two metrics: the held value and the thinned series of each
    feed(mill, *[(now - timedelta(hours=10, seconds=20 * i), {"temperature": 20 + i % 50,
                                                              "running": i % 3 == 0})
                 for i in range(1500)])
    assert queries_for_page() == few


def test_chart_metric_choice(logged_in, mill):
    feed(mill, (utcnow() - timedelta(minutes=5), {"temperature": 25, "running": True}))
    browser, _ = logged_in("viewer")

    payload = chart_payload(browser.get(f"/telemetry/machines/{mill.id}/history?metric=running"))

    assert [s["key"] for s in payload["series"]] == ["running"]


# --- latest values -----------------------------------------------------------------------

def test_live_values_render_from_the_machine_alone_for_the_socket(app, mill):
    from flask import render_template

    from app.blueprints.telemetry.panels import values_context

    now = utcnow()
    feed(mill, (now - timedelta(minutes=1), {"temperature": 12.5, "running": False}))
    with app.test_request_context():
        html = render_template("telemetry/_live_values.html", oob=True, **values_context(mill))

    assert re.search(rf'<section class="live-values" id="machine-{mill.id}-values" '
                     r'hx-swap-oob="true"', html)
    assert "12.5" in html and "Low" in html and "Stopped" in html and "Reporting" in html


def test_live_values_tell_silent_from_reporting_unchanged(app, mill):
    from flask import render_template

    from app.blueprints.telemetry.panels import values_context
    from app.core.extensions import db

    now = utcnow()
    feed(mill, (now - timedelta(hours=2), {"temperature": 50}), now=now - timedelta(hours=2))
    # Reporting every poll since, but nothing changed.
    feed(mill, (now - timedelta(seconds=5), {"temperature": 50}), now=now - timedelta(seconds=5))
    with app.test_request_context():
        html = render_template("telemetry/_live_values.html", **values_context(mill))
    assert "Reporting" in html and "values unchanged" in html and "Silent" not in html

    mill.state.last_seen_at = now - timedelta(minutes=20)
    db.session.commit()
    with app.test_request_context():
        html = render_template("telemetry/_live_values.html", **values_context(mill))
    assert "Silent" in html and "Nothing heard" in html and "values unchanged" not in html


def test_value_formatting():
    from app.blueprints.telemetry.live_values import format_number

    assert format_number(12345) == "12,345"
    assert format_number(71.30000000000001) == "71.3"
    assert format_number(1500.0) == "1,500"
    assert format_number(0.0042) == "0.0042"
    assert format_number(-3.125) == "-3.12"


# --- readings table ------------------------------------------------------------------------

def test_readings_are_paged_newest_first_with_blanks_for_missing_metrics(logged_in, mill):
    now = utcnow()
    start = now - timedelta(hours=5)
    feed(mill, *[(start + timedelta(minutes=i), {"temperature": 20 + i} if i % 2 else
                  {"running": i % 4 == 0}) for i in range(120)])
    browser, _ = logged_in("viewer")

    first = browser.get(f"/telemetry/machines/{mill.id}/readings")
    assert first.status_code == 200
    rows = _table_rows(first)
    assert len(rows) == 50
    assert rows[0][0] == f"{start + timedelta(minutes=119):%Y-%m-%d %H:%M:%S}"
    assert rows[0][2:] == ["139 High", "", ""]   # temperature only: the others are blank
    assert rows[1][2:] == ["", "Stopped", ""]
    assert "Newer" not in text_of(first)

    second = browser.get(_link(first, "Older"), headers=HX)
    html = text_of(second)
    assert "<html" not in html
    assert html.lstrip().startswith(f'<section class="readings" id="machine-{mill.id}-readings"')
    rows2 = _table_rows(second)
    assert len(rows2) == 50
    assert rows2[0][0] == f"{start + timedelta(minutes=69):%Y-%m-%d %H:%M:%S}"
    third = browser.get(_link(second, "Older"))
    assert len(_table_rows(third)) == 20 and "Older" not in text_of(third)
    assert _table_rows(third)[-1][0] == f"{start:%Y-%m-%d %H:%M:%S}"
    back = browser.get(_link(third, "Newer"))
    assert _table_rows(back) == rows2
    assert _table_rows(browser.get(_link(back, "Newer"))) == rows


def test_readings_filtered_by_range_in_the_url(logged_in, mill):
    now = utcnow()
    feed(mill, *[(now - timedelta(hours=h), {"temperature": 20 + h}) for h in range(1, 11)])
    browser, _ = logged_in("viewer")
    since = (now - timedelta(hours=4, minutes=30)).strftime("%Y-%m-%dT%H:%M")
    until = (now - timedelta(hours=1, minutes=30)).strftime("%Y-%m-%dT%H:%M")

    response = browser.get(f"/telemetry/machines/{mill.id}/readings?from={since}&to={until}")

    assert [r[2] for r in _table_rows(response)] == ["22", "23", "24"]
    assert f'value="{since}"' in text_of(response)
    csv_link = re.search(r'href="([^"]*readings\.csv[^"]*)"', text_of(response)).group(1)
    assert "from=" in csv_link and "to=" in csv_link
    assert browser.get(f"/telemetry/machines/{mill.id}/readings?from={until}&to={since}").status_code == 400
    assert browser.get(f"/telemetry/machines/{mill.id}/readings?before=soon").status_code == 400


def test_times_follow_the_remembered_browser_zone(logged_in, mill):
    ts = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    feed(mill, (ts, {"temperature": 30}))
    browser, _ = logged_in("viewer")

    browser.client.set_cookie("floorline_tz", "Europe/Berlin")
    response = browser.get(f"/telemetry/machines/{mill.id}/readings")
    assert _table_rows(response)[0][0] == "2026-11-20 11:00:00"
    assert "Times in Europe/Berlin" in text_of(response)
    # What people type is read in that zone too.
    shown = browser.get(f"/telemetry/machines/{mill.id}/readings?from=2026-11-20T10:30")
    assert _table_rows(shown)[0][0] == "2026-11-20 11:00:00"

    browser.client.set_cookie("floorline_tz", "Not/AZone")  # ignored, not an error
    response = browser.get(f"/telemetry/machines/{mill.id}/readings")
    assert response.status_code == 200 and _table_rows(response)[0][0] == "2026-11-20 10:00:00"


def _table_rows(response):
    html = text_of(response)
    body = re.search(r"<tbody>(.*?)</tbody>", html, re.S)
    assert body, "no table"
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        rows.append([re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", c)).strip() for c in cells])
    return rows


def _link(response, text):
    match = re.search(rf'<a href="([^"]+)"[^>]*>[^<]*{text}', text_of(response))
    assert match, f"no {text} link"
    return match.group(1).replace("&amp;", "&")


# --- CSV ---------------------------------------------------------------------------------

def test_csv_export_of_a_range_streams(logged_in, mill):
    now = utcnow()
    feed(mill, (now - timedelta(hours=3), {"temperature": 19.5, "running": True}),
         (now - timedelta(hours=2), {"status": "=HYPERLINK(\"x\")"}),
         (now - timedelta(hours=1), {"running": False}),
         (now - timedelta(minutes=10), {"temperature": 22}))
    browser, operator = logged_in("operator")
    _assign(mill, operator)
    since = (now - timedelta(hours=2, minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    until = (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")

    response = browser.get(f"/telemetry/machines/{mill.id}/readings.csv?from={since}&to={until}")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "MILL-01-readings-" in disposition
    assert disposition.endswith('.csv"')
    rows = list(csv.reader(io.StringIO(text_of(response))))
    assert rows[0] == ["ts", "received_at", "source", "temperature", "running", "status"]
    assert len(rows) == 3
    assert rows[1][0] == (now - timedelta(hours=2)).isoformat()
    assert datetime.fromisoformat(rows[1][1]).tzinfo is not None
    assert rows[1][2:] == ["webhook", "", "", "'=HYPERLINK(\"x\")"]  # never a live formula
    assert rows[2][3:] == ["", "false", ""]


def _assign(machine, operator):
    from app.blueprints.machines import services
    from app.core.extensions import db

    services.set_machine_operators(machine, [operator])
    db.session.commit()


def test_csv_of_everything_and_of_nothing(logged_in, mill):
    browser, _ = logged_in("viewer")
    empty = browser.get(f"/telemetry/machines/{mill.id}/readings.csv")
    assert empty.status_code == 200
    assert list(csv.reader(io.StringIO(text_of(empty)))) == [
        ["ts", "received_at", "source", "temperature", "running", "status"]]

    now = utcnow()
    feed(mill, *[(now - timedelta(minutes=i), {"temperature": i}) for i in range(1, 1201)])
    rows = list(csv.reader(io.StringIO(text_of(browser.get(f"/telemetry/machines/{mill.id}/readings.csv")))))
    assert len(rows) == 1201
    assert [float(r[3]) for r in rows[1:4]] == [1200, 1199, 1198]  # oldest first


def test_csv_is_streamed_in_pieces(app, mill, make_user):
    from flask_login import login_user

    from app.blueprints.telemetry.readings import CSV_CHUNK

    now = utcnow()
    feed(mill, *[(now - timedelta(minutes=i), {"temperature": i}) for i in range(1, 1201)])
    with app.test_request_context(f"/telemetry/machines/{mill.id}/readings.csv"):
        login_user(make_user("viewer"))
        response = app.view_functions["telemetry.readings_csv"](machine_id=mill.id)
        assert response.is_streamed  # a generator, not a body built in memory
        chunks = [chunk for chunk in response.response if chunk]
    assert len(chunks) == 1200 // CSV_CHUNK + 1
    assert sum(chunk.count("\n") for chunk in chunks) == 1201


@pytest.mark.parametrize("query", ["from=nonsense", "from=2026-11-20T10:00&to=2026-11-20T09:00",
                                   "to=31/12/2026", "tz=Nowhere/Land",
                                   "from=0001-01-01T00:00&tz=Asia/Tokyo"])
def test_csv_bad_range_is_a_plain_400(logged_in, mill, query):
    browser, _ = logged_in("viewer")

    response = browser.get(f"/telemetry/machines/{mill.id}/readings.csv?{query}")

    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert text_of(response).strip() and "<" not in text_of(response)


# --- access and empty states --------------------------------------------------------------

def test_an_operator_of_another_machine_gets_403(logged_in, make_machine, mill_type):
    browser, operator = logged_in("operator")
    mine = make_machine(machine_type=mill_type(), operators=[operator])
    other = make_machine(machine_type=mill_type())

    for path in ("history", "readings", "readings.csv"):
        assert browser.get(f"/telemetry/machines/{mine.id}/{path}").status_code == 200, path
        assert browser.get(f"/telemetry/machines/{other.id}/{path}").status_code == 403, path
    assert browser.get("/telemetry/machines/999999/history").status_code == 404


def test_old_history_urls_redirect_to_telemetry_with_their_query(logged_in, mill):
    """Chart, readings and CSV links saved before they moved to /telemetry still work."""
    browser, _ = logged_in("viewer")
    for path in ("history?range=24h", "readings?before=x", "readings.csv"):
        response = browser.get(f"/machines/{mill.id}/{path}")
        assert response.status_code == 308, path
        assert response.headers["Location"] == f"/telemetry/machines/{mill.id}/{path}"


def test_empty_states_before_any_reading(logged_in, mill):
    browser, _ = logged_in("viewer")

    page = text_of(browser.get(f"/telemetry/machines/{mill.id}/history"))
    assert "No readings yet." in page                  # the latest values
    assert "No readings in this range." in page        # the chart
    assert "chart-data" not in page
    readings = text_of(browser.get(f"/telemetry/machines/{mill.id}/readings"))
    assert "No readings yet." in readings and "<table class=\"readings-table\"" not in readings


def test_a_type_without_chartable_metrics(logged_in, make_machine, make_machine_type):
    browser, _ = logged_in("viewer")
    machine = make_machine(machine_type=make_machine_type(metrics=()))

    html = text_of(browser.get(f"/telemetry/machines/{machine.id}/history"))

    assert "Nothing to chart." in html


# --- in a real browser ---------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.mark.browser
@pytest.mark.live
@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason="needs Chromium at /usr/bin/chromium")
def test_chart_draws_and_switches_range_without_reloading(live_server, make_user, mill):
    sync_api = pytest.importorskip("playwright.sync_api")
    now = utcnow()
    feed(mill, *[(now - timedelta(minutes=15 * i), {"temperature": 40 + (i % 5) * 9,
                                                     "running": i % 3 != 0})
                 for i in range(30, 0, -1)])
    manager = make_user("production_manager")

    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = chromium.new_context(base_url=live_server, timezone_id="Europe/Berlin",
                                           viewport={"width": 1440, "height": 900})
            context.set_default_timeout(10_000)
            page = context.new_page()
            page.goto("/auth/login")
            page.fill("input[name=username]", manager.username)
            page.fill("input[name=password]", PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(re.compile(r"^(?!.*/login).*$"))

            page.goto(f"/machines/{mill.id}")
            canvas = page.locator(".uplot canvas").first
            canvas.wait_for()
            box = canvas.bounding_box()
            assert box and box["width"] > 300 and box["height"] > 100
            assert page.locator(".uplot").count() == 2  # temperature and running
            assert "Last 8 hours" in page.locator(".chart-caption").inner_text()
            page.evaluate("window.__notReloaded = true")

            page.get_by_role("button", name="1 h", exact=True).click()
            page.locator(".chart-caption", has_text="Last hour").wait_for()
            page.locator(".uplot canvas").first.wait_for()
            assert page.evaluate("window.__notReloaded") is True
            assert "range=1h" in page.url and "tz=Europe%2FBerlin" in page.url
            box = page.locator(".uplot canvas").first.bounding_box()
            assert box and box["width"] > 300 and box["height"] > 100
            assert page.locator('button[value="1h"][aria-pressed="true"]').count() == 1
        finally:
            chromium.close()
