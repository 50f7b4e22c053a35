import click
from flask.cli import AppGroup

from app.core.errors import ValidationFailed
from app.core.extensions import db

from . import roles, services

users_cli = AppGroup("users", help="Create and inspect user accounts.")


@users_cli.command("create")
@click.option("--username", required=True)
@click.option("--password", help="Omit to be asked for it (not echoed).")
@click.option("--role", required=True, help="One of: " + ", ".join(roles.ROLES))
@click.option("--full-name", default="")
def create_command(username, password, role, full_name):
    """Create an account, e.g. the first admin. The password is used as given."""
    if role not in roles.ROLES:
        raise click.BadParameter(f"unknown role '{role}'; use one of {', '.join(roles.ROLES)}",
                                 param_hint="--role")
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = services.create_account(role, username, password, full_name=full_name)
    except ValidationFailed as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Created {user.role_label.lower()} '{user.username}'.")


@users_cli.command("list")
def list_command():
    """Print every account with its role and state."""
    for user in db.session.scalars(services.search_users(status="all")):
        state = "active" if user.active else "deactivated"
        click.echo(f"{user.username:24} {user.role:20} {state:12} {user.full_name}")
