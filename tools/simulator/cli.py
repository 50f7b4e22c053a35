"""`python -m tools.simulator`: play the machine vendor for the plant in the database."""

import logging
import random
import signal
import threading

import click
from flask import current_app
from flask.cli import with_appcontext

from app.blueprints.machines import subscriptions
from app.core.extensions import db
from app.integrations import vendor

from .machines import load_specs, push_machines
from .server import Pusher, Refresher, Server, create_vendor_app, wall_clock
from .signals import Plant
from .subscriptions import SubscriptionStore

log = logging.getLogger("floorline.simulator")
# A push in flight gets its timeout to finish when the simulator stops.
PUSH_JOIN_SECONDS = 6


@click.command("simulate")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8100, show_default=True, type=click.IntRange(0, 65535),
              envvar="SIMULATOR_PORT",
              help="Port to listen on [env SIMULATOR_PORT]; `flask demo load` points the "
                   "demo plant's data URLs at it.")
@click.option("--push-interval", default=5.0, show_default=True, type=click.FloatRange(0.5),
              help="Seconds between webhook pushes to each subscription.")
@click.option("--subscribe", is_flag=True,
              help="Once listening, subscribe Floorline's webhook for every machine that "
                   "has a vendor id and polling off (and commit).")
@click.option("--silent", "silent_code", metavar="CODE",
              help="Machine that goes silent now and then, or 'none' "
                   "[default: the last by code].")
@click.option("--seed", type=int, help="Seed of the signals; the same seed replays the same "
                                      "signals [default: random, printed at start].")
@click.option("--refresh-every", default=60.0, show_default=True, type=click.FloatRange(1),
              help="Seconds between re-reading the machines from the database.")
@click.option("--subscriptions-file", type=click.Path(dir_okay=False),
              help="Where subscriptions survive restarts "
                   "[default: instance/simulator-subscriptions.json].")
@with_appcontext
def simulate_command(host, port, push_interval, subscribe, silent_code, seed, refresh_every,
                     subscriptions_file):
    """Play the machine vendor: data URLs, webhook subscriptions and signed pushes."""
    app = current_app._get_current_object()
    log.setLevel(logging.INFO)
    # One line per poll and push would drown the log; failures and events are logged here.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    seed = random.randrange(1_000_000) if seed is None else seed
    silent = False if (silent_code or "").lower() == "none" else silent_code
    plant = Plant(seed=seed, silent=silent)

    def read_machines():
        with app.app_context():   # its own session, closed when the context ends
            return load_specs()

    refresher = Refresher(plant, read_machines, every=refresh_every)
    try:
        specs = refresher.refresh()
    except Exception as exc:
        raise click.ClickException(f"cannot read the machines from the database ({exc}); "
                                   "run `flask --app wsgi db upgrade` first?") from None
    if silent and silent.upper() not in {s.code for s in specs}:
        log.warning("--silent %s: no such machine with a vendor id; none will go silent",
                    silent)
    store = SubscriptionStore(subscriptions_file
                              or f"{app.instance_path}/simulator-subscriptions.json")
    vendor_app = create_vendor_app(plant, store, refresher=refresher)
    try:
        server = Server(vendor_app, host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                                   "is another simulator running? Try --port.") from None
    server.start()
    log.info("vendor simulator on %s: %d machines (%s silent now and then), seed %d, "
             "%d subscriptions, pushing every %g s", server.url, len(specs),
             plant.silent_code or "none", seed, len(store.all()), push_interval)
    for spec in specs:
        log.info("  %-8s %s/machines/%s/data", spec.code, server.url, spec.vendor_id)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threads = [threading.Thread(target=Pusher(plant, store, wall_clock, push_interval).run,
                                args=(stop,), daemon=True, name="vendor-push"),
               threading.Thread(target=refresher.run, args=(stop,), daemon=True,
                                name="vendor-refresh")]
    for thread in threads:
        thread.start()
    try:
        if subscribe:
            _subscribe_push_machines(app, server.url)
        seen = plant.events_logged
        while not stop.wait(1):
            plant.advance(wall_clock())
            events, seen = plant.events_since(seen)
            for text in events:
                log.info("event: %s", text)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.stop()
        for thread in threads:
            thread.join(timeout=PUSH_JOIN_SECONDS)
        log.info("vendor simulator stopped")


def _subscribe_push_machines(app, own_url):
    """Subscribe the machines that push (vendor id, polling off) at this simulator."""
    configured = app.config["VENDOR_API_URL"].rstrip("/")
    if configured != own_url:
        log.info("--subscribe: VENDOR_API_URL is %s; subscribing at this simulator (%s) "
                 "instead", configured, own_url)
    app.config["VENDOR_API_URL"] = own_url   # this process only: it *is* the vendor
    with app.app_context():
        try:
            outcomes = subscriptions.subscribe_all(push_machines())
            lines = [(o.ok, f"  {o.machine.code:<8} {o.message}") for o in outcomes]
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("--subscribe failed; the simulator keeps running")
            return
        log.info("--subscribe: pushes go to %s", vendor.callback_url())
    for ok, line in lines:
        (log.info if ok else log.warning)(line)
