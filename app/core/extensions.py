"""Extensions, created unbound and attached in create_app()."""

from flask import current_app
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sock import Sock
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from redis import Redis
from rq import Queue
from sqlalchemy import MetaData

# Named constraints so Alembic can alter and drop them on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING))
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
sock = Sock()


def redis_client():
    """One Redis client per app, created on first use so a down Redis never blocks startup."""
    client = current_app.extensions.get("floorline_redis")
    if client is None:
        client = Redis.from_url(current_app.config["REDIS_URL"], socket_timeout=5,
                                socket_connect_timeout=2, health_check_interval=30)
        current_app.extensions["floorline_redis"] = client
    return client


def job_queue():
    return Queue(current_app.config["RQ_QUEUE"], connection=redis_client())
