"""JSON Schemas of the socket's messages (/api/v1/ws), added to the OpenAPI components.

OpenAPI has no words for a WebSocket, so the messages are described as components only
(`WsClientMessage`, `WsServerMessage` and what they hold); docs/api.md "WebSocket" says how
they are used. An event's data is the REST resource itself where there is one (an
`andon_event` carries an `AndonEvent`, as GET /andon/events/{id} shows it without its
history), so an integrator parses both with one model.
"""

from .ws import MAX_SCOPES


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties, required=None, **extra):
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required, **extra}


def _message(kind, properties=None, required=None, **extra):
    props = {"type": {"const": kind}, **(properties or {})}
    return _object(props, required=None if required is None else ["type", *required], **extra)


_REF = {"ref": {"description": "Echoed from the client's message (null when it sent none).",
                "type": ["string", "integer", "null"]}}
_SCOPE = {"scope": {"enum": ["plant", "line", "machine"]},
          "id": {"type": ["integer", "null"], "minimum": 1,
                 "description": "The line's or machine's id; null for the plant."}}
LINE_STATUS = _object({
    "line": _ref("LineRef"),
    "status": {"enum": ["running", "partial", "stopped", "empty"], "description":
               "By the connectivity of the line's machines (those the user sees): all "
               "reporting, some, none, or no machines."},
    "machines": {"type": "integer"},
    "connectivity": _object({key: {"type": "integer"} for key in
                             ("reporting", "silent", "unreachable", "none")}),
    "machine_ids": {"type": "array", "items": {"type": "integer"}},
})

NOTIFICATION = _object({
    "id": {"type": "integer"}, "kind": {"type": "string"}, "title": {"type": "string"},
    "body": {"type": "string"}, "url": {"type": "string"},
    "created_at": {"type": "string", "format": "date-time"},
    "read_at": {"type": ["string", "null"], "format": "date-time"},
})

OEE_UPDATE = _object({
    "line": _ref("LineRef"),
    "machine": {"oneOf": [_ref("MachineRef"), {"type": "null"}],
                "description": "The machine whose buckets these are; null for the line's."},
    "start": {"type": "string", "format": "date-time"},
    "end": {"type": "string", "format": "date-time"},
    "buckets": {"type": "array", "items": _ref("OeeBucket"),
                "description": "The stored buckets the change touched, newest first."},
    "truncated": {"type": "boolean",
                  "description": "More buckets changed (a wide recompute): read them with "
                                 "GET /oee/lines/{id}."},
})

DOWNTIME = _object({
    "id": {"type": "integer"},
    "action": {"enum": ["opened", "closed", "recorded", "reason_set"]},
    "machine": _ref("MachineRef"),
    "started_at": {"type": "string", "format": "date-time"},
    "ended_at": {"type": ["string", "null"], "format": "date-time"},
    "source": {"type": "string"},
    "note": {"type": "string"},
    "reason": {"oneOf": [{"type": "null"}, _object({
        "id": {"type": "integer"}, "name": {"type": "string"}, "loss": {"type": "string"},
        "planned": {"type": "boolean"}})]},
})

# Server event type → the schema of its `data`.
EVENT_DATA = {
    "equipment_status_update": _ref("Equipment"),
    "line_status_update": _ref("WsLineStatus"),
    "andon_event": _ref("AndonEvent"),
    "system_alert": _ref("Alert"),
    "alert_update": _ref("Alert"),
    "task_update": _ref("Task"),
    "notification": _ref("WsNotification"),
    "oee_update": _ref("WsOeeUpdate"),
    "downtime_event": _ref("WsDowntime"),
}

SNAPSHOT = _object({
    "machines": {"type": "array", "items": _ref("Equipment")},
    "lines": {"type": "array", "items": _ref("WsLineStatus")},
    "andon_events": {"type": "array", "items": _ref("AndonEvent"),
                     "description": "Calls not resolved yet, the longest waiting first."},
    "alerts": {"type": "array", "items": _ref("Alert"),
               "description": "Open alerts the role may see, newest first (at most 100)."},
})

_WHERE = {"type": ["integer", "null"]}
_EVENTS = [_message(kind, {"at": {"type": "string", "format": "date-time"},
                           "machine_id": _WHERE, "line_id": _WHERE, "data": data})
           for kind, data in EVENT_DATA.items()]

CLIENT = {"oneOf": [
    _message("subscribe", {**_SCOPE, **_REF}, required=["scope"], description=(
        f"Subscribe to a scope (at most {MAX_SCOPES} per socket); answered by `subscribed` "
        "with a snapshot. `id` is required for a line or machine.")),
    _message("unsubscribe", {**_SCOPE, **_REF}, required=["scope"]),
    _message("ping", _REF, required=[]),
]}

SERVER = {"oneOf": [
    _message("ready", {
        "user": _object({"id": {"type": "integer"}, "username": {"type": "string"},
                         "role": {"type": "string"}}),
        "token_expires_at": {"type": "string", "format": "date-time",
                             "description": "The socket closes with 4401 then."},
        "scopes": {"type": "array", "items": {"type": "string"}}}),
    _message("subscribed", {**_REF, **_SCOPE, "snapshot": _ref("WsSnapshot")}),
    _message("unsubscribed", {**_REF, **_SCOPE}),
    _message("pong", _REF),
    _message("error", {**_REF, "error": _ref("ErrorBody")}),
    *_EVENTS,
]}

COMPONENTS = {
    "WsClientMessage": CLIENT,
    "WsServerMessage": SERVER,
    "WsSnapshot": SNAPSHOT,
    "WsLineStatus": LINE_STATUS,
    "WsNotification": NOTIFICATION,
    "WsOeeUpdate": OEE_UPDATE,
    "WsDowntime": DOWNTIME,
}


def describe(spec):
    for name, schema in COMPONENTS.items():
        spec.components.schema(name, component=schema)
