from webapp.blueprints.contribute import consent_views as _consent_views  # noqa: F401 - registers the routes
from webapp.blueprints.contribute import payout_views as _payout_views  # noqa: F401 - registers the routes
from webapp.blueprints.contribute import rights_views as _rights_views  # noqa: F401 - registers the routes
from webapp.blueprints.contribute import set_views as _set_views  # noqa: F401 - registers the routes
from webapp.blueprints.contribute.views import bp

__all__ = ["bp"]
