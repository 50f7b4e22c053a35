"""`flask --app wsgi telemetry mqtt`: store the readings machines publish over MQTT.

Runs in the foreground until Ctrl-C or SIGTERM (a Procfile line: docs/mqtt.md).
"""

import click
from flask import current_app

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
