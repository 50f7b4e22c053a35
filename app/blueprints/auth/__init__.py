from flask import Blueprint

from app.core.navigation import nav_entry

bp = Blueprint("auth", __name__, url_prefix="/auth")

from . import roles  # noqa: E402

nav_entry(90, "People", "auth.users", roles.MANAGERS,
          ("auth.users", "auth.show_user", "auth.new_user", "auth.edit_assignments",
           "auth.change_role"))
nav_entry(91, "API keys", "auth.api_keys", frozenset({roles.ADMIN}),
          ("auth.api_keys", "auth.new_api_key", "auth.revoke_api_key"))

from . import views  # noqa: E402,F401
