"""The baseline for the single-reading webhook: the least a Flask endpoint can do.

Served by bench/ingest.py (bench/stack.py) with the same gunicorn settings as the app
(`gunicorn ... --chdir bench bare_app:app`). It parses the same JSON body, maps the machine
code to its id (a dict loaded once per process, like a warm cache) and runs one INSERT into
the same `readings` table, then commits. No signature check, no validation, no change
detection, no state, no live event: what is left is Flask + gunicorn + one round trip.
"""

import json
import os
import queue
import threading

import psycopg2
from flask import Flask, jsonify, request

app = Flask(__name__)
_machines = None
_lock = threading.Lock()
# Connections are opened on demand and kept (like SQLAlchemy's pool). psycopg2's own
# ThreadedConnectionPool closes every connection above `minconn` when it is returned, so
# under concurrency it would open a connection per request.
_idle = queue.LifoQueue()

INSERT = ("INSERT INTO readings (machine_id, ts, received_at, values, source) "
          "VALUES (%s, %s, now(), %s, 'webhook')")


def _dsn():
    url = os.environ["DATABASE_URL"]
    return url.replace("postgresql+psycopg2://", "postgresql://")


def _getconn():
    try:
        return _idle.get_nowait()
    except queue.Empty:
        return psycopg2.connect(_dsn())


def _putconn(conn):
    if not conn.closed:
        _idle.put(conn)


def _setup():
    global _machines
    with _lock:
        if _machines is None:
            conn = _getconn()
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT code, id FROM machines")
                    machines = dict(cur.fetchall())
                conn.commit()
            finally:
                _putconn(conn)
            _machines = machines


@app.post("/api/v1/ingest")
def ingest():
    if _machines is None:
        _setup()
    payload = json.loads(request.get_data(cache=False))
    machine_id = _machines.get(payload.get("machine"))
    if machine_id is None:
        return jsonify(error="unknown machine"), 404
    conn = _getconn()
    try:
        with conn.cursor() as cur:
            cur.execute(INSERT, (machine_id, payload["ts"], json.dumps(payload["values"])))
        conn.commit()
    except psycopg2.Error:
        conn.rollback()
        raise
    finally:
        _putconn(conn)
    return jsonify(stored=1), 202


@app.get("/health")
def health():
    return "ok"
