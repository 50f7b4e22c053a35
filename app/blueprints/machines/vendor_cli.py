"""`machines subscribe` / `machines unsubscribe`: our webhook at the vendor's API."""

import click

from app.core.extensions import db
from app.integrations import vendor

from . import bp, subscriptions

CODE_OPTION = click.option("--code", "codes", multiple=True, metavar="CODE",
                           help="Only this machine; repeat for more [default: all].")


@bp.cli.command("subscribe")
@CODE_OPTION
def subscribe_command(codes):
    """Ask the vendor (VENDOR_API_URL) to push readings of machines with a vendor id."""
    click.echo(f"Vendor API {vendor.api_url()}; readings will arrive at "
               f"{vendor.callback_url()}")
    _finish(subscriptions.subscribe_all(_chosen(codes)), "No machines.")


@bp.cli.command("unsubscribe")
@CODE_OPTION
def unsubscribe_command(codes):
    """Delete the vendor subscriptions of subscribed machines."""
    _finish(subscriptions.unsubscribe_all(_chosen(codes)), "No machine is subscribed.")


def _chosen(codes):
    if not codes:
        return None
    machines, missing = subscriptions.machines_by_code(codes)
    if missing:
        raise click.ClickException(f"no machine with code {', '.join(missing)}; "
                                   "nothing was changed.")
    return machines


def _finish(outcomes, nothing):
    for outcome in outcomes:
        click.echo(f"{outcome.machine.code:<10} {outcome.message}", err=not outcome.ok)
    db.session.commit()
    failed = sum(not o.ok for o in outcomes)
    if not outcomes:
        click.echo(nothing)
    elif failed:
        click.echo(f"{failed} of {len(outcomes)} failed.", err=True)
        raise SystemExit(1)
