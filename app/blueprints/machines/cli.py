import click

from app.core.errors import ValidationFailed
from app.core.extensions import db

from . import bp, fixtures


@bp.cli.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def load_command(path):
    """Load departments, lines, machine types and machines from a JSON file."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        counts = fixtures.load(text)
    except ValidationFailed as exc:
        db.session.rollback()
        click.echo(f"{path}: nothing was loaded:", err=True)
        for message in exc.errors.values():
            for line in message.splitlines():
                click.echo(f"  {path}: {line}", err=True)
        raise SystemExit(1) from None
    db.session.commit()
    click.echo(f"{path}: loaded " + ", ".join(f"{n} {k.replace('_', ' ')}"
                                           for k, n in counts.items()) + ".")
