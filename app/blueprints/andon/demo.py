"""Demo data for andon: the recommended escalation ladder (idempotent)."""

from .escalation import install_default_ladder


def seed_demo():
    """Install the recommended ladder's missing levels; the caller commits."""
    return install_default_ladder()
