"""`flask --app wsgi telemetry mqtt`: store the readings machines publish over MQTT.

Runs in the foreground until Ctrl-C or SIGTERM (a Procfile line: docs/mqtt.md).
"""

import click
from flask import current_app

from app.blueprints.machines.models import Machine
from app.core.extensions import db

from . import bp
from .mqtt import store_messages


@bp.cli.command("mqtt")
@click.option("--url", help="Broker: mqtt://[user:password@]host[:port] or mqtts://… "
                            "[default: MQTT_URL, else mqtt://127.0.0.1:1883]")
@click.option("--prefix", help="Topic prefix; readings arrive on <prefix>/<machine>/readings "
                               "[default: MQTT_TOPIC_PREFIX, else floorline]")
def mqtt_command(url, prefix):
    """Subscribe to machines' MQTT readings and store them until Ctrl-C or SIGTERM."""
    from app.integrations.mqtt import run_until_signalled  # paho only when used

    try:
        subscriber = mqtt_subscriber(current_app._get_current_object(), url=url, prefix=prefix)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    run_until_signalled(subscriber)


def mqtt_subscriber(app, url=None, prefix=None):
    """An MQTT Subscriber that stores each batch of messages in one transaction."""
    from app.integrations.mqtt import Subscriber  # paho only when used

    def store(messages):
        # Leaving the app context removes the session, which rolls a failed batch back.
        with app.app_context():
            outcome = store_messages(messages)
            db.session.commit()
            return outcome

    return Subscriber(app, store, url=url, prefix=prefix)


@bp.cli.group("rollups")
def rollups_group():
    """The readings' hourly and daily roll-ups (the job keeps them; these repair them)."""


@rollups_group.command("rebuild")
@click.option("--since", required=True, metavar="TIME",
              help="Roll every hour again from this UTC time on, e.g. 2026-11-01 or "
                   "2026-11-01T08:00")
@click.option("--machine", "machine_codes", multiple=True, metavar="CODE",
              help="Only this machine (repeatable) [default: every machine]")
def rollups_rebuild(since, machine_codes):
    """Roll the readings again from --since up to the last whole hour."""
    from .ranges import RangeError, parse_time
    from .rollups import rebuild, supported

    if not supported():
        raise click.UsageError("Roll-ups need PostgreSQL; this database has none to rebuild.")
    try:
        start = parse_time(since, what="--since time")
    except RangeError as exc:
        raise click.UsageError(str(exc)) from None
    ids = _machine_ids(machine_codes) if machine_codes else None
    hours = rebuild(start, ids)
    db.session.commit()
    click.echo(f"Rolled {hours} metric-hours again from {start:%Y-%m-%d %H:%M} UTC"
               + (f" for {', '.join(machine_codes)}." if machine_codes else "."))


@rollups_group.command("run")
def rollups_run():
    """One run of the roll-up job now, in this process."""
    from .rollups import roll_up

    run = roll_up()
    db.session.commit()
    if run.busy:
        click.echo("Another run holds the lock; nothing done.")
    else:
        click.echo(f"Rolled {run.hours} metric-hours of {run.machines} machines "
                   f"({len(run.late)} with late readings).")


def _machine_ids(codes):
    found = dict(db.session.execute(
        db.select(Machine.code, Machine.id).where(Machine.code.in_(codes))).all())
    missing = [c for c in codes if c not in found]
    if missing:
        raise click.UsageError(f"No machine with the code {', '.join(missing)}.")
    return set(found.values())
