"""Where the plant page's time goes, in-process, on the database `python -m bench.plant` left.

    .venv/bin/python bench/page_profile.py            # after a `python -m bench.plant` run

Times (median of N, one thread, no HTTP) each piece of `GET /` for the bench manager:
the dashboard services' queries, the whole render, and per-tile helpers × 500, plus a
cProfile of one whole view. Uses only the app's own code (read-only).
"""

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(label, fn, repeat):
    fn()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000)
    print(f"{label:44} median {statistics.median(runs):7.1f} ms   min {min(runs):7.1f} ms")
    return statistics.median(runs)


# An experiment, not the app's code: the same tile markup from one Core query and per-type
# facts computed once, to see what the page could cost. Skips what a real page also has
# (layout, lines' headings) — those are a few ms in the measurements above.
_TILE = """{% for t in tiles %}<a class="tile {{ t.badge }}" id="machine-{{ t.id }}-tile" \
href="{{ prefix }}{{ t.id }}">
  <span class="tile-head"><span class="code">{{ t.code }}</span><span class="badge {{ t.badge }}">\
{{ t.word }}</span></span>
  <span class="tile-name">{{ t.name }}</span>
  <span class="tile-values">{% for label, text, unit, level, flag in t.shown %}
      <span class="tile-value {{ level }}"><span class="muted">{{ label }}</span> <b>{{ text }}</b>\
{% if unit %} {{ unit }}{% endif %}{% if flag %} <span class="flag">{{ flag }}</span>{% endif %}</span>\
{% endfor %}
  </span>
  {% if t.spark %}<svg class="spark" viewBox="0 0 100 24" preserveAspectRatio="none" role="img" \
aria-label="{{ t.trend_label }} trend"><polyline points="{{ t.spark }}" /></svg>{% endif %}
  <span class="muted small">Last seen {{ t.ago }}</span>
</a>
{% endfor %}"""

_TILE_ROWS = """
SELECT m.id, m.code, m.name, m.status, m.machine_type_id, s.values, s.trend, s.last_seen_at,
       s.reachable
FROM machines m LEFT JOIN machine_states s ON s.machine_id = m.id
ORDER BY m.line_id, m.code
"""
_UNSTAFFED = """
SELECT m.id, m.code FROM machines m
WHERE m.status <> 'retired'
  AND NOT EXISTS (SELECT 1 FROM machine_operators o WHERE o.machine_id = m.id)
  AND NOT EXISTS (SELECT 1 FROM line_operators o WHERE o.line_id = m.line_id)
ORDER BY m.code
"""


def lower_bounds(app, repeat, context):
    from sqlalchemy import select, text

    from app.blueprints.machines.models import MachineType
    from app.blueprints.telemetry.live_values import format_number
    from app.blueprints.telemetry.tiles import sparkline
    from app.core.extensions import db
    from app.core.templating import time_ago

    template = app.jinja_env.from_string(_TILE)
    types = {}
    for machine_type in db.session.scalars(select(MachineType)):
        trend = machine_type.trend_metric
        types[machine_type.id] = (
            [(m.key, m.label, m.unit or "", m.normal_min, m.normal_max)
             for m in machine_type.tile_metrics], trend.label if trend else "")

    def tiles(rows):
        out = []
        for mid, code, name, _status, type_id, values, trend, seen, _reachable in rows:
            metrics, trend_label = types[type_id]
            values = values or {}
            shown, badge = [], "ok"
            for key, label, unit, low, high in metrics:
                value = values.get(key)
                if value is None:
                    shown.append((label, "—", "", "", ""))
                    continue
                level = flag = ""
                if high is not None and value > high:
                    level, flag, badge = "high", "High", "bad"
                elif low is not None and value < low:
                    level, flag, badge = "low", "Low", "bad"
                elif low is not None or high is not None:
                    level = "normal"
                shown.append((label, format_number(value), unit, level, flag))
            out.append({"id": mid, "code": code, "name": name, "badge": badge,
                        "word": "Reporting", "shown": shown, "trend_label": trend_label,
                        "spark": sparkline(trend or []), "ago": time_ago(seen)})
        return out

    def load():
        return db.session.execute(text(_TILE_ROWS)).all()

    rows = load()
    print("\nlower bounds (experiments: same tile markup, plain rows, per-type facts once):")
    timed("Core query: 500 machines ⋈ states", load, repeat)
    timed("SQL: unstaffed machines (NOT EXISTS ×2)",
          lambda: db.session.execute(text(_UNSTAFFED)).all(), repeat)
    timed("tile facts from rows × 500", lambda: tiles(rows), repeat)
    facts = tiles(rows)
    timed("render 500 tiles (one template, a loop)",
          lambda: template.render(tiles=facts, prefix="/machines/"), repeat)
    timed("all of it", lambda: template.render(tiles=tiles(load()), prefix="/machines/"),
          repeat)
    staffed = {m.id for m in context["unstaffed"]}
    found = {r[0] for r in db.session.execute(text(_UNSTAFFED))}
    print(f"{'   unstaffed: SQL agrees with services':44} {staffed == found}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/floorline_bench")
    parser.add_argument("--manager", default="bench-manager")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.dsn
    os.environ.setdefault("LIVE_CHANNEL_PREFIX", f"page-profile{os.getpid()}")

    from flask import render_template, url_for
    from flask_login import login_user
    from sqlalchemy import event, select

    from app import create_app
    from app.blueprints.auth.models import User
    from app.blueprints.dashboard import services
    from app.blueprints.dashboard.views import home
    from app.blueprints.telemetry.live_values import live_values
    from app.blueprints.telemetry.tiles import tile_state, tiles_of
    from app.core.extensions import db
    from app.core.templating import time_ago

    app = create_app()
    with app.test_request_context("/"):
        login_user(db.session.scalar(select(User).where(User.username == args.manager)))
        queries = []
        event.listen(db.engine, "before_cursor_execute", lambda *a, **k: queries.append(1))

        def fresh(fn):
            def run():
                db.session.expunge_all()
                return fn()
            return run

        def load_all():  # what home() hands plant.html
            lines, loose = services.plant_by_line()
            poll, skipped_polls = services.last_poll()
            return {"summary": services.plant_summary(), "poll": poll,
                    "skipped_polls": skipped_polls, "lines": lines, "loose": loose,
                    "tiles": tiles_of([m for line in lines for m in line.machines] + loose),
                    "unstaffed": services.unstaffed_machines()}

        print(f"GET / for {args.manager}, in-process (no HTTP, no concurrency)\n")
        timed("services.plant_summary", fresh(services.plant_summary), args.repeat)
        timed("services.plant_by_line (ORM, selectinload)", fresh(services.plant_by_line),
              args.repeat)
        timed("services.unstaffed_machines", fresh(services.unstaffed_machines), args.repeat)
        timed("all queries", fresh(load_all), args.repeat)
        queries.clear()
        context = fresh(load_all)()
        loaded = len(queries)
        render_template("dashboard/plant.html", **context)
        print(f"{'   queries: loading, + lazy loads in render':44} {loaded} + "
              f"{len(queries) - loaded}")
        timed("render plant.html (data loaded)",
              lambda: render_template("dashboard/plant.html", **context), args.repeat)
        timed("whole view (home())", fresh(home), args.repeat)
        machines = [m for line in context["lines"] for m in line.machines] + context["loose"]
        n = len(machines)
        print(f"\nper-tile pieces, × {n} machines:")
        tiles = context["tiles"]
        timed(f"render telemetry/_tile.html × {n}",
              lambda: [render_template("telemetry/_tile.html", machine=m, tile=tiles[m.id])
                       for m in machines], max(3, args.repeat // 3))
        lives = [live_values(m) for m in machines]
        timed(f"live_values × {n}", lambda: [live_values(m) for m in machines], args.repeat)
        timed(f"tile_state × {n}",
              lambda: [tile_state(m, lv) for m, lv in zip(machines, lives, strict=True)],
              args.repeat)
        timed(f"url_for('machines.show') × {n}",
              lambda: [url_for("machines.show", machine_id=m.id) for m in machines],
              args.repeat)
        timed(f"time_ago × {n}", lambda: [time_ago(lv.last_seen_at) for lv in lives],
              args.repeat)
        timed(f"machine_type.tile_metrics × {n}",
              lambda: [m.machine_type.tile_metrics for m in machines], args.repeat)
        timed(f"machine_type.trend_metric × {n}",
              lambda: [m.machine_type.trend_metric for m in machines], args.repeat)

        lower_bounds(app, args.repeat, context)

        profile = cProfile.Profile()
        db.session.expunge_all()
        profile.enable()
        home()
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(18)
        print("\ncProfile of one whole view, by own time:")
        print("\n".join(out.getvalue().splitlines()[6:]))


if __name__ == "__main__":
    main()
