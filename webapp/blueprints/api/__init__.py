from webapp.blueprints.api import contribute_api as _contribute_api  # noqa: F401 - registers the routes
from webapp.blueprints.api.views import bp

__all__ = ["bp"]
