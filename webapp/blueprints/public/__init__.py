from webapp.blueprints.public import campaign_views as _campaign_views  # noqa: F401 - registers the routes
from webapp.blueprints.public import consent_views as _consent_views  # noqa: F401 - registers the routes
from webapp.blueprints.public.views import bp

__all__ = ["bp"]
