"""`flask --app wsgi telemetry mqtt`: store the readings machines publish over MQTT.

Runs in the foreground until Ctrl-C or SIGTERM (a Procfile line: docs/mqtt.md).
"""

import click
from flask import current_app

from . import bp


@bp.cli.command("mqtt")
@click.option("--url", help="Broker: mqtt://[user:password@]host[:port] or mqtts://… "
                            "[default: MQTT_URL, else mqtt://127.0.0.1:1883]")
@click.option("--prefix", help="Topic prefix; readings arrive on <prefix>/<machine>/readings "
                               "[default: MQTT_TOPIC_PREFIX, else floorline]")
def mqtt_command(url, prefix):
    """Subscribe to machines' MQTT readings and store them until Ctrl-C or SIGTERM."""
    from app.integrations.mqtt import Subscriber, run_until_signalled  # paho only when used

    try:
        subscriber = Subscriber(current_app._get_current_object(), url=url, prefix=prefix)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    run_until_signalled(subscriber)
