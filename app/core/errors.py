"""Exceptions services raise; views turn them into form errors or 403 pages."""


class ValidationFailed(Exception):
    """Bad input: `errors` maps a form field (or "" for the whole form) to a message."""

    def __init__(self, errors):
        if isinstance(errors, str):
            errors = {"": errors}
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" if k else v for k, v in errors.items()))


class Forbidden(Exception):
    """The acting user may not do this; views answer 403."""


class InUse(ValidationFailed):
    """The thing is still used by others, so it cannot go: the API answers 409, a page shows
    the message as it shows any refusal."""
