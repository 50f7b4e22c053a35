"""Roles and what each may do; the one place access rules for people live."""

ADMIN = "admin"
PRODUCTION_MANAGER = "production_manager"
SHIFT_MANAGER = "shift_manager"
ENGINEER = "engineer"
MAINTENANCE = "maintenance"
QUALITY = "quality"
OPERATOR = "operator"
VIEWER = "viewer"

ROLES = (ADMIN, PRODUCTION_MANAGER, SHIFT_MANAGER, ENGINEER, MAINTENANCE, QUALITY,
         OPERATOR, VIEWER)
ROLE_LABELS = {
    ADMIN: "Administrator",
    PRODUCTION_MANAGER: "Production manager",
    SHIFT_MANAGER: "Shift manager",
    ENGINEER: "Engineer",
    MAINTENANCE: "Maintenance",
    QUALITY: "Quality",
    OPERATOR: "Operator",
    VIEWER: "Viewer",
}
MANAGERS = frozenset({ADMIN, PRODUCTION_MANAGER, SHIFT_MANAGER})
# Roles a manager may create; only admins create managers, engineers and other admins.
CREATABLE_BY_MANAGER = frozenset({OPERATOR, MAINTENANCE, QUALITY, VIEWER})
# People who work at particular machines and so see only those.
MACHINE_BOUND = frozenset({OPERATOR})
EVERYONE = frozenset(ROLES)

SHIFTS = (("", "—"), ("early", "Early"), ("late", "Late"), ("night", "Night"),
          ("day", "Day"), ("rotating", "Rotating"))


def creatable_roles(actor_role):
    if actor_role == ADMIN:
        return ROLES
    if actor_role in MANAGERS:
        return tuple(r for r in ROLES if r in CREATABLE_BY_MANAGER)
    return ()


def can_create(actor_role, role):
    return role in creatable_roles(actor_role)


def can_manage_user(actor, user):
    """Managers manage the roles they may create; admins manage everyone but themselves
    (and the accounts API keys act as, which go with their keys)."""
    if actor.id == user.id or user.service_account:  # keys are managed as keys
        return False
    return can_create(actor.role, user.role)
# Everyone who is not tied to particular machines: sees the whole plant, read-only or not.
PLANT_WIDE = EVERYONE - MACHINE_BOUND
