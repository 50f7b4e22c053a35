"""Every domain's models, in layer order (docs/ARCHITECTURE.md), so the ORM knows them all.

Models name each other by string across domains (a task's alert, an issue's downtime); the
mappers resolve those names when first used, so every model must be imported by then.
Importing a domain's models also imports its package, which registers its listeners.
"""

# Layer order, not the alphabet:
# ruff: noqa: I001
from app.blueprints.auth import models as auth  # noqa: F401
from app.blueprints.machines import models as machines  # noqa: F401
from app.blueprints.telemetry import models as telemetry  # noqa: F401
from app.blueprints.notifications import models as notifications  # noqa: F401
from app.blueprints.production import models as production  # noqa: F401
from app.blueprints.logbook import models as logbook  # noqa: F401
from app.blueprints.alerts import models as alerts  # noqa: F401
from app.blueprints.tasks import models as tasks  # noqa: F401
from app.blueprints.andon import models as andon  # noqa: F401
from app.blueprints.api import models as api  # noqa: F401
