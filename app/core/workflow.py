"""Status workflows (logbook issues, maintenance tasks): one check, one set of messages."""

from .errors import ValidationFailed


def next_statuses(statuses, transitions, current):
    """The statuses `current` may move to, in the workflow's order."""
    allowed = transitions.get(current, ())
    return [value for value, _label in statuses if value in allowed]


def check_transition(thing, statuses, transitions, current, wanted):
    """Refuse a status that is unknown, unchanged or not a next step, saying which are.

    `thing` names what moves ("issue", "task"); raises ValidationFailed on "status".
    """
    labels = dict(statuses)
    if wanted not in labels:
        raise ValidationFailed({"status": f"'{wanted}' is not a status. Use one of: "
                                          + ", ".join(labels.values()) + "."})
    if wanted == current:
        raise ValidationFailed({"status": f"The {thing} is already {labels[wanted]}."})
    if wanted not in transitions.get(current, ()):
        nexts = ", ".join(labels[s] for s in next_statuses(statuses, transitions, current))
        article = "An" if thing[0] in "aeiou" else "A"
        raise ValidationFailed({"status": f"{article} {thing} that is {labels[current]} cannot "
                                          f"go straight to {labels[wanted]}. From "
                                          f"{labels[current]} it can go to: "
                                          f"{nexts or 'nothing'}."})
