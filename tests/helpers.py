"""Small helpers shared by tests."""

import re

PASSWORD = "correct horse battery"


def text_of(response):
    return response.get_data(as_text=True)


def shown_credentials(response):
    """The username and one-time password on the 'account created' page."""
    html = text_of(response)
    username = re.search(r'id="new-username">([^<]+)<', html).group(1)
    password = re.search(r'id="new-password">([^<]+)<', html).group(1)
    return username, password


def redirect_path(response):
    location = response.headers.get("Location", "")
    return re.sub(r"^https?://[^/]+", "", location)
