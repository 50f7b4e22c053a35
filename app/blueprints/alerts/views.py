"""Alert and rule pages. Thin: load, check access, call a service, commit once."""

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user

from app.blueprints.auth.access import managers_only, roles_required
from app.blueprints.machines import services as machine_services
from app.blueprints.machines.models import Machine, MachineType
from app.core.extensions import db
from app.core.forms import ConfirmForm, form_status, save, save_form
from app.core.htmx import is_htmx, redirect_for_htmx, render_page

from . import alert_services, bp, hooks, panels, rules
from .access import ALERT_READERS, can_acknowledge, can_close, can_comment, load_alert, load_rule
from .forms import CloseForm, CommentForm, RuleForm
from .models import SEVERITIES, Alert, AlertRule


def _page_number():
    page = request.args.get("page", "1")
    return int(page) if page.isdigit() and int(page) > 0 else 1


# --- alerts -------------------------------------------------------------------------------

@bp.get("/")
@roles_required(*ALERT_READERS)
def index():
    filters = alert_services.parse_filters(request.args)
    page = db.paginate(alert_services.search_alerts(current_user, filters),
                       page=_page_number(), per_page=current_app.config["PAGE_SIZE"],
                       error_out=False)
    live_list = (filters.state in ("open", "active", "unacknowledged", "all")
                 and not filters.active_besides_state and page.page == 1)
    return render_page("alerts/index.html", "alerts/_list.html", page=page, filters=filters,
                       live_list=live_list, ackable=panels.ackable(current_user, page.items),
                       states=alert_services.STATE_FILTERS, severities=SEVERITIES,
                       **alert_services.filter_choices(current_user))


def _show(alert, comment_form=None, close_form=None, status=200):
    return render_page(
        "alerts/show.html", status=status, alert=alert, tasks=hooks.tasks_of(alert),
        comment_form=comment_form or CommentForm(), close_form=close_form or CloseForm(),
        action_form=ConfirmForm(), may_acknowledge=can_acknowledge(current_user, alert),
        may_comment=can_comment(current_user, alert), may_close=can_close(current_user, alert),
        describe=rules.describe, fmt=rules.format_value)


@bp.get("/<int:alert_id>")
@roles_required(*ALERT_READERS)
def show(alert_id):
    return _show(load_alert(alert_id))


def _act(alert, action, done_message):
    """Run a service on the alert and commit; a refusal becomes a flash message."""
    saved = save(action)
    if saved:
        flash(done_message, "success")
    else:
        flash(saved.message, "error")
    return redirect(url_for(".show", alert_id=alert.id))


@bp.post("/<int:alert_id>/acknowledge")
@roles_required(*ALERT_READERS)
def acknowledge(alert_id):
    alert = load_alert(alert_id)
    if not can_acknowledge(current_user, alert):
        abort(403)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if is_htmx() and request.form.get("row"):
        return _acknowledge_row(alert)
    return _act(alert, lambda: alert_services.acknowledge_alert(alert, current_user),
                "Alert acknowledged.")


def _acknowledge_row(alert):
    """The list's one-tap button: the row comes back, acknowledged (or as it is, if
    someone else was quicker)."""
    save(lambda: alert_services.acknowledge_alert(alert, current_user))
    return render_page("alerts/_row.html",
                       **panels.row_context(current_user, db.session.get(Alert, alert.id)))


@bp.post("/<int:alert_id>/comment")
@roles_required(*ALERT_READERS)
def comment(alert_id):
    alert = load_alert(alert_id)
    if not can_comment(current_user, alert):
        abort(403)
    form = CommentForm()
    if save_form(form, lambda: alert_services.comment_on_alert(alert, current_user,
                                                               form.text.data)):
        flash("Comment added.", "success")
        return redirect(url_for(".show", alert_id=alert.id) + "#history")
    return _show(alert, comment_form=form, status=form_status(form))


@bp.post("/<int:alert_id>/close")
@managers_only
def close(alert_id):
    alert = load_alert(alert_id)
    form = CloseForm()
    if not form.validate_on_submit():
        return _show(alert, close_form=form, status=422)
    return _act(alert, lambda: alert_services.close_alert(alert, current_user,
                                                          form.note.data),
                "Alert closed.")


# --- rules --------------------------------------------------------------------------------

@bp.get("/rules", endpoint="rules")
@roles_required(*ALERT_READERS)
def rules_index():
    page = rules.list_rules(_page_number(), current_app.config["PAGE_SIZE"])
    return render_page("alerts/rules.html", "alerts/_rules_list.html", page=page,
                       describe=rules.describe, scope_label=rules.scope_label,
                       form=ConfirmForm())


def _metric_choices(machine_type_id, machine_id):
    """The metrics a rule may name for the chosen scope (every type's when none)."""
    machine = db.session.get(Machine, machine_id) if machine_id else None
    machine_type = db.session.get(MachineType, machine_type_id) if machine_type_id else None
    target = rules.scope_type(machine_type, machine)
    types = [target] if target is not None else machine_services.types_ordered()
    seen = {}
    for t in types:
        for m in t.metrics:
            kind = "" if m.kind == "number" else f", {m.kind}"
            seen.setdefault(m.key, f"{m.label} ({m.key}{kind})")
    return [("", "— choose a metric —"), *sorted(seen.items(), key=lambda kv: kv[1])]


def _rule_form(rule=None):
    form = RuleForm(obj=rule) if rule is not None and request.method == "GET" else RuleForm()
    if rule is not None and request.method == "GET":
        form.machine_type_id.data = rule.machine_type_id or 0
        form.machine_id.data = rule.machine_id or 0
        form.threshold.data = "" if rule.threshold is None else rules.format_value(
            rule.threshold)
    form.machine_type_id.choices = [(0, "— any type / one machine —")] + [
        (t.id, t.name) for t in machine_services.types_ordered()]
    form.machine_id.choices = [(0, "— every machine in scope —")] + [
        (m.id, f"{m.code} · {m.name}") for m in machine_services.machines_ordered()]
    form.metric_key.choices = _metric_choices(form.machine_type_id.data,
                                              form.machine_id.data)
    return form


def _save_rule(form, rule):
    machine_type = db.session.get(MachineType, form.machine_type_id.data or 0)
    machine = db.session.get(Machine, form.machine_id.data or 0)
    rules.save_rule(rule, actor=current_user, name=form.name.data, kind=form.kind.data,
                    machine_type=machine_type, machine=machine,
                    metric_key=form.metric_key.data, condition=form.condition.data,
                    threshold=form.threshold.data,
                    sustained_seconds=form.sustained_seconds.data,
                    offline_intervals=form.offline_intervals.data,
                    severity=form.severity.data, template=form.message_template.data,
                    create_task=form.create_task.data, enabled=form.enabled.data)


def _rule_saved(rule):
    flash(f"Rule “{rule.name}” saved.", "success")
    url = url_for(".rules")
    return redirect_for_htmx(url) if is_htmx() else redirect(url)


@bp.route("/rules/new", methods=["GET", "POST"])
@managers_only
def new_rule():
    form, rule = _rule_form(), AlertRule()
    if save_form(form, lambda: _save_rule(form, rule)):
        return _rule_saved(rule)
    return render_page("alerts/rule_form.html", "alerts/_rule_form.html",
                       status=form_status(form), form=form, rule=None)


@bp.route("/rules/<int:rule_id>/edit", methods=["GET", "POST"])
@managers_only
def edit_rule(rule_id):
    rule = load_rule(rule_id)
    form = _rule_form(rule)
    if save_form(form, lambda: _save_rule(form, rule)):
        return _rule_saved(rule)
    return render_page("alerts/rule_form.html", "alerts/_rule_form.html",
                       status=form_status(form), form=form, rule=rule)


@bp.get("/rules/metrics")
@managers_only
def rule_metrics():
    """The metric field for the chosen type or machine (the rule form's htmx helper)."""
    form = RuleForm(formdata=None)
    form.metric_key.choices = _metric_choices(request.args.get("machine_type_id", type=int),
                                              request.args.get("machine_id", type=int))
    form.metric_key.data = request.args.get("metric_key", "")
    return render_page("alerts/_metric_field.html", form=form)


@bp.post("/rules/<int:rule_id>/toggle")
@managers_only
def toggle_rule(rule_id):
    rule = load_rule(rule_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    save(lambda: rules.set_enabled(rule, not rule.enabled))
    flash(f"Rule “{rule.name}” {'enabled' if rule.enabled else 'disabled'}.", "success")
    return redirect(url_for(".rules"))


@bp.route("/rules/<int:rule_id>/delete", methods=["GET", "POST"])
@managers_only
def delete_rule(rule_id):
    rule = load_rule(rule_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        saved = save(lambda: rules.delete_rule(rule))
        if not saved:
            flash(saved.message, "error")
            return redirect(url_for(".edit_rule", rule_id=rule.id))
        flash("Rule deleted.", "success")
        return redirect(url_for(".rules"))
    count = rules.rule_alert_count(rule)
    if count and rule.enabled:
        # Its alerts' history needs it: offer what the manager can do instead.
        return render_page(
            "confirm.html", form=form, title=f"{rule.name} cannot be deleted",
            message=f"“{rule.name}” has raised {count} alert{'s' if count != 1 else ''} and "
                    "their history needs the rule. Disable it instead: it then raises "
                    "nothing new.", action=url_for(".toggle_rule", rule_id=rule.id),
            button="Disable rule", danger=False, cancel=url_for(".edit_rule", rule_id=rule.id))
    message = (f"“{rule.name}” has raised {count} alert{'s' if count != 1 else ''} and "
               "their history needs the rule, so it cannot be deleted. It is disabled "
               "already and raises nothing new." if count
               else f"Delete the rule “{rule.name}”? This cannot be undone.")
    return render_page("confirm.html", form=form, title=f"Delete {rule.name}?",
                       message=message, action=url_for(".delete_rule", rule_id=rule.id),
                       button="Delete rule", danger=True,
                       cancel=url_for(".edit_rule", rule_id=rule.id))
