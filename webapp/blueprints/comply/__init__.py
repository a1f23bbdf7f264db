from webapp.blueprints.comply import audit_views as _audit_views  # noqa: F401 - registers the routes
from webapp.blueprints.comply import consent_views as _consent_views  # noqa: F401 - registers the routes
from webapp.blueprints.comply import registry_views as _registry_views  # noqa: F401 - registers the routes
from webapp.blueprints.comply import release_views as _release_views  # noqa: F401 - registers the routes
from webapp.blueprints.comply import report_views as _report_views  # noqa: F401 - registers the routes
from webapp.blueprints.comply import rights_views as _rights_views  # noqa: F401 - registers the routes
from webapp.blueprints.comply.views import bp

__all__ = ["bp"]
