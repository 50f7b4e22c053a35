"""Floorline: shop-floor operations. create_app() builds the Flask app."""

import logging
from pathlib import Path

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.middleware.proxy_fix import ProxyFix

from app.core import errors
from app.core.extensions import csrf, db, login_manager, migrate, sock
from config import INSTANCE_DIR, Config

BLUEPRINTS = ("auth", "machines", "telemetry", "dashboard", "ops", "api", "logbook", "alerts",
              "andon", "tasks", "notifications", "production")


def create_app(config=Config):
    """The app, with every domain registered.

    Domains are imported here, inside the factory, not at the top of this module: `app` is
    the package of everything, and `import app.core.models` (rq cron's schedule, Alembic,
    the tools) must not pull every blueprint in with it.
    """
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    app.config.from_object(config)
    INSTANCE_DIR.mkdir(exist_ok=True)
    if app.config["TRUSTED_PROXIES"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"],
                                x_proto=1, x_host=1)
    _init_extensions(app)
    _register_blueprints(app)
    _register_error_pages(app)
    _register_templating(app)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return app


def _init_extensions(app):
    from app.blueprints.auth.access import enforce_first_login  # why: see create_app's docstring
    from app.blueprints.auth.models import User  # why: see create_app's docstring

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"))
    csrf.init_app(app)
    sock.init_app(app)
    app.config.setdefault("SOCK_SERVER_OPTIONS", {"ping_interval": 25})
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Log in to see that page."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(session_id):
        user_id, _, version = session_id.partition(":")
        if not user_id.isdigit() or not version.isdigit():
            return None
        user = db.session.get(User, int(user_id))
        if user is None or not user.active or user.session_version != int(version):
            return None
        return user

    app.before_request(enforce_first_login)
    from app.core.after_commit import init_after_commit
    init_after_commit()
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _fix_sqlite_transactions(db.engine)


def _fix_sqlite_transactions(engine):
    """SQLite for the embedded demo: working SAVEPOINTs and no "database is locked".

    pysqlite's own transaction handling breaks nested transactions (the fixture loader
    loads all or nothing with them), so SQLAlchemy begins transactions itself (recipe from
    its SQLite notes). BEGIN IMMEDIATE takes the write lock up front: several web threads
    writing at once then wait their turn (busy_timeout) instead of failing on a lock
    upgrade, and WAL lets readers go on beside the writer.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        dbapi_connection.execute("PRAGMA busy_timeout = 30000")
        dbapi_connection.execute("PRAGMA journal_mode = WAL")

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _register_blueprints(app):
    import importlib

    from app import models  # noqa: F401  (every domain's models and listeners, in layer order)
    from app.blueprints.auth.cli import users_cli  # why: see create_app's docstring
    from app.demo import demo_cli  # why: see create_app's docstring

    for name in BLUEPRINTS:
        module = importlib.import_module(f".blueprints.{name}", __name__)
        app.register_blueprint(module.bp)
    from app.core import badges  # noqa: F401  (registers the badges' live renderer)
    from app.realtime import ws  # noqa: F401  (registers /ws on sock)

    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)


def _register_error_pages(app):
    from app.blueprints.api.errors import http_error_response, is_api_request  # why: see create_app

    def page(status, template):
        def handler(error):
            if is_api_request():  # no route matched, so the API's own handlers never ran
                return http_error_response(error)
            return render_template(template, error=error), status
        return handler

    app.register_error_handler(403, page(403, "errors/403.html"))
    app.register_error_handler(errors.Forbidden, _refused)
    app.register_error_handler(404, page(404, "errors/404.html"))
    app.register_error_handler(405, page(405, "errors/405.html"))
    app.register_error_handler(500, _server_error)
    app.register_error_handler(CSRFError, page(400, "errors/csrf.html"))


def _refused(error):
    """A service said the user may not do this: nothing it started is kept; the 403 page."""
    db.session.rollback()
    return render_template("errors/403.html", error=error), 403


def _server_error(error):
    """The failed request may have left the transaction broken; the page must still render."""
    db.session.rollback()
    try:
        return render_template("errors/500.html", error=error), 500
    except Exception:  # the database itself is down: the layout cannot load the user
        logging.getLogger(__name__).exception("error page failed")
        return ("Floorline hit an error and could not show its error page. "
                "Try again in a moment."), 500, {"Content-Type": "text/plain; charset=utf-8"}


def _register_templating(app):
    from app.blueprints.auth import roles  # why: see create_app's docstring
    from app.core.badges import badge_counts
    from app.core.htmx import dom_id
    from app.core.layout import layout_pieces
    from app.core.navigation import nav_items
    from app.core.templating import format_datetime, time_ago

    app.jinja_env.globals.update(dom_id=dom_id, roles=roles, nav_items=nav_items,
                                 badge_counts=badge_counts, layout_pieces=layout_pieces)
    app.jinja_env.filters.update(datetime=format_datetime, ago=time_ago)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.context_processor
    def current_endpoint():
        from app.core.models import utcnow
        # rendered_at: live pages ask the socket only for what changed after this moment.
        return {"endpoint": request.endpoint or "", "rendered_at": utcnow().isoformat()}
