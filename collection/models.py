"""Imports every model module so that `Base.metadata` is complete (alembic and tests import this)."""

from collection.accounts import models as _accounts  # noqa: F401
from collection.audit import models as _audit  # noqa: F401
from collection.campaigns import models as _campaigns  # noqa: F401
from collection.compliance import models as _compliance  # noqa: F401
from collection.contributions import models as _contributions  # noqa: F401
from collection.crypto import ContributorKey as _ContributorKey  # noqa: F401
from collection.erasure import models as _erasure  # noqa: F401
from collection.jobs import Job as _Job  # noqa: F401
from collection.payments import models as _payments  # noqa: F401
from collection.releases import models as _releases  # noqa: F401
from collection.review import models as _review  # noqa: F401
from consent import models as _consent  # noqa: F401
from consent.db import Base

metadata = Base.metadata

__all__ = ["Base", "metadata"]
