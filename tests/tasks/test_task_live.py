"""Task changes reach the open pages of the people they concern, over a real socket."""

import pytest

from app.blueprints.tasks import services
from app.core.extensions import db
from tests.helpers import open_socket, receive_until

pytestmark = pytest.mark.live


def test_status_change_reaches_an_assignees_open_task_list(live_server, make_user,
                                                          make_line, make_machine, make_task):
    operator = make_user("operator")
    manager = make_user("shift_manager")
    machine = make_machine(code="LIVE-T1", line=make_line(operators=[operator]))
    task = make_task(machine, "Grease the slides", assignees=[operator], actor=manager)
    ws, _hello = open_socket(live_server, operator.username, "?resync=tasks")
    try:
        services.change_status(manager, task, "in_progress")
        db.session.commit()
        card = receive_until(ws, f'id="task-{task.id}"')
    finally:
        ws.close()
    assert card is not None, "no card arrived within 5 s"
    assert 'hx-swap-oob="true"' in card and "In progress" in card
    assert 'value="finished"' in card      # the assignee gets the one-tap buttons


def test_a_new_assignment_updates_the_badge_and_outsiders_get_nothing(live_server, make_user,
                                                                    make_line, make_machine):
    operator = make_user("operator")
    outsider = make_user("operator")
    machine = make_machine(code="LIVE-T2", line=make_line(operators=[operator]))
    ws, _hello = open_socket(live_server, operator.username)
    other, _ = open_socket(live_server, outsider.username, "?resync=tasks")
    try:
        task = services.create_task(machine, "Swap the filter", assignees=[operator])
        db.session.commit()
        badge = receive_until(ws, 'id="badge-tasks"')
        leaked = receive_until(other, f'id="task-{task.id}"', timeout=1)
    finally:
        ws.close()
        other.close()
    assert badge is not None and ">1<" in badge
    assert leaked is None


def test_an_open_task_page_gets_its_status_and_timeline(live_server, make_user, make_line,
                                                        make_machine, make_task):
    operator = make_user("operator")
    manager = make_user("shift_manager")
    machine = make_machine(code="LIVE-T3", line=make_line(operators=[operator]))
    task = make_task(machine, "Tighten the guard", assignees=[operator])
    ws, _hello = open_socket(live_server, operator.username, f"?resync=task:{task.id}")
    try:
        services.change_status(manager, task, "in_progress")
        db.session.commit()
        panel = receive_until(ws, f'id="task-{task.id}-status"')
    finally:
        ws.close()
    assert panel is not None and "Status: In progress" in panel
    assert f'id="task-{task.id}-timeline" hx-swap-oob="true"' in panel
    assert "Not started → In progress" in panel


def test_a_reconnecting_list_gets_the_cards_changed_while_away(live_server, make_user,
                                                               make_line, make_machine, make_task):
    from datetime import UTC, datetime, timedelta

    operator = make_user("operator")
    machine = make_machine(code="LIVE-T4", line=make_line(operators=[operator]))
    task = make_task(machine, "Refill the oil", assignees=[operator])
    from urllib.parse import quote

    away_since = quote((datetime.now(UTC) - timedelta(minutes=1)).isoformat())
    ws, hello = open_socket(live_server, operator.username,
                            f"?resync=tasks&since={away_since}")
    try:
        card = hello if f'id="task-{task.id}"' in hello else receive_until(
            ws, f'id="task-{task.id}"')
    finally:
        ws.close()
    assert card is not None and "Refill the oil" in card


def test_an_open_board_redraws_itself_for_visible_changes_only(live_server, make_user,
                                                              make_line, make_machine):
    """A board cannot move a card between columns by swapping it in place: it is told to
    fetch itself again (with its own filters); a task it may not show tells it nothing."""
    operator = make_user("operator")
    mine = make_machine(code="LIVE-T5", line=make_line(operators=[operator]))
    elsewhere = make_machine(code="LIVE-T6")
    ws, _hello = open_socket(live_server, operator.username, "?resync=tasks:board")
    try:
        services.create_task(elsewhere, "Not on my board")
        db.session.commit()
        leaked = receive_until(ws, 'id="task-board-refresh"', timeout=1)
        services.create_task(mine, "On my board", assignees=[operator])
        db.session.commit()
        refresh = receive_until(ws, 'id="task-board-refresh"')
    finally:
        ws.close()
    assert leaked is None
    assert refresh is not None and 'hx-trigger="load"' in refresh
    assert 'hx-include="#task-filters"' in refresh and 'hx-swap-oob="true"' in refresh
