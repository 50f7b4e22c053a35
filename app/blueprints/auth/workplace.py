"""The lines and machines a user works on, as auth's user forms offer and save them.

Lines and machines belong to the machines domain, which sits above auth: it registers how to
list and load them here when its package is imported, so auth never names it.
"""

_SOURCE = {}


def workplace_source(choices, chosen):
    """Register `choices()` -> (line choices, machine choices), each [(id, label)], and
    `chosen(line_ids, machine_ids)` -> (lines, machines) that exist."""
    _SOURCE.update(choices=choices, chosen=chosen)


def offer_workplace(form):
    """Fill the form's `lines` and `machines` choices."""
    form.lines.choices, form.machines.choices = _SOURCE["choices"]()


def chosen_workplace(form):
    """(lines, machines) picked in the form."""
    return _SOURCE["chosen"](form.lines.data, form.machines.data)
