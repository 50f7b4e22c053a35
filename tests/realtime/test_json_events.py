"""JSON events for the API's socket are built and serialized once per audience."""

from app.realtime.hub import Subscription
from app.realtime.json_events import PLANT, JsonEvent, Scope, build_for


def _listeners(*users):
    subs = [Subscription(u.id, u.session_version) for u in users]
    return subs, {u.id: u for u in users}


def test_users_who_see_alike_share_one_serialized_event(make_user, make_line, make_machine,
                                                        make_andon_call):
    first, second, stranger = (make_user("operator") for _ in range(3))
    manager, other_manager = make_user("shift_manager"), make_user("shift_manager")
    line = make_line(operators=[first, second])
    machine = make_machine(line=line)
    make_machine(operators=[stranger])
    call = make_andon_call(machine)
    subs, users = _listeners(first, second, stranger, manager, other_manager)

    built = build_for([{"event": "andon.changed", "id": call.id}], subs, users)

    [(op_text, event)] = built[subs[0]]
    assert event.type == "andon_event" and event.machine_id == machine.id
    assert built[subs[1]][0][0] is op_text  # the same bytes, serialized once
    assert built[subs[2]] == []              # not their machine
    assert built[subs[4]][0][0] is built[subs[3]][0][0]
    assert built[subs[3]][0][0] is not op_text  # another audience: its own build


def test_notifications_are_built_for_each_user(make_user, make_notification):
    alice, bob = make_user("viewer"), make_user("viewer")
    note = make_notification(alice, title="Belt worn")
    subs, users = _listeners(alice, bob)

    built = build_for([{"event": "notification.created", "ids": [note.id],
                        "user_ids": [alice.id]}], subs, users)

    [(text, event)] = built[subs[0]]
    assert event.personal and '"title": "Belt worn"' in text
    assert built[subs[1]] == []


def test_scopes_keep_what_lies_in_them():
    event = JsonEvent("equipment_status_update", {}, machine_id=3, line_id=7)
    assert event.in_scope(PLANT)
    assert event.in_scope(Scope("line", 7)) and not event.in_scope(Scope("line", 8))
    assert event.in_scope(Scope("machine", 3)) and not event.in_scope(Scope("machine", 4))
    unplaced = JsonEvent("equipment_status_update", {}, machine_id=5)
    assert not unplaced.in_scope(Scope("line", 7))
    assert JsonEvent("notification", {}, personal=True).in_scope(Scope("machine", 1))
