from webapp.blueprints.operate import consent_views as _consent_views  # noqa: F401 - registers the routes
from webapp.blueprints.operate import payment_views as _payment_views  # noqa: F401 - registers the routes
from webapp.blueprints.operate import release_views as _release_views  # noqa: F401 - registers the routes
from webapp.blueprints.operate import review_views as _review_views  # noqa: F401 - registers the routes
from webapp.blueprints.operate.views import bp

__all__ = ["bp"]
