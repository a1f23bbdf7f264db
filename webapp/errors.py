"""The one place where errors become responses: domain errors carry data, this maps them to HTML or JSON."""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify, make_response, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from collection.errors import CollectionError, NotFound, StorageBackendError
from consent.errors import ConsentError
from webapp.access import wants_json
from webapp.auth import forget_user_for_this_request


def _respond(status: int, code: str, message: str) -> tuple[Response | str, int]:
    if wants_json():
        return jsonify(error=code, message=message), status
    return render_template("error.html", status=status, message=message), status


def _unavailable() -> Response:
    """The database did not answer in time (SQLite's write lock held past its busy timeout, PostgreSQL unreachable).
    The page, its translations and the headers would all load the signed-in user again and wait once more, so the
    visitor is anonymous for the rest of this request and the page renders without the database."""
    forget_user_for_this_request()
    resp = make_response(_respond(503, "unavailable", _("The service is not ready.")))
    resp.headers["Retry-After"] = "5"
    return resp


# What a database says when it is busy or out of reach (SQLite's lock, PostgreSQL connections), as opposed to faults.
_NOT_ANSWERING = ("database is locked", "database is busy", "could not connect", "connection refused",
                  "server closed the connection", "terminating connection", "timeout", "too many clients")


def _not_answering(err: OperationalError) -> bool:
    said = str(err.orig).lower()
    return bool(err.connection_invalidated) or any(words in said for words in _NOT_ANSWERING)


def init_app(app: Flask) -> None:
    @app.errorhandler(OperationalError)
    def _database(err: OperationalError) -> Response:
        if not _not_answering(err):  # a missing table, a full disk...: a real fault, logged and shown as such
            raise err
        app.logger.warning("database not answering: %s", str(err.orig).splitlines()[0][:200])
        return _unavailable()

    @app.errorhandler(CSRFError)
    def _csrf(err: CSRFError) -> tuple[Response | str, int]:
        return _respond(400, "csrf", _("The form expired or was sent from elsewhere. Reload the page and try again."))

    @app.errorhandler(NotFound)
    def _not_found(err: NotFound) -> tuple[Response | str, int]:
        return _respond(404, "not_found", _("Not found."))

    @app.errorhandler(ConsentError)
    def _consent(err: ConsentError) -> tuple[Response | str, int]:
        return _respond(409, type(err).__name__, str(err))

    @app.errorhandler(StorageBackendError)
    def _storage(err: StorageBackendError) -> tuple[Response | str, int]:
        # the disk or object store failed (credentials, a missing bucket, an outage): the operator needs the
        # detail in the log, the visitor neither it nor the internal blob name; nothing was kept of the request
        app.logger.error("blob storage failed: %s", err)
        resp = make_response(_respond(503, "storage_unavailable",
                                      _("Storage is not available right now: nothing was saved. Try again later.")))
        resp.headers["Retry-After"] = "30"
        return resp, 503

    @app.errorhandler(CollectionError)
    def _domain(err: CollectionError) -> tuple[Response | str, int]:
        return _respond(409, type(err).__name__, str(err))

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> tuple[Response | str, int]:
        messages = {
            403: _("You do not have access to this page."),
            404: _("Not found."),
            405: _("This action is not allowed here."),
            413: _("The upload is too large: this server accepts at most %(mb)d MB at a time.",
                   mb=(current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)),
            503: _("The service is not ready."),
        }
        status = err.code or 500
        return _respond(
            status, (err.name or "error").lower().replace(" ", "_"), messages.get(status, err.description or "")
        )

    if app.testing:
        return  # tests see the real traceback

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> tuple[Response | str, int]:  # the one broad handler, by design
        app.logger.exception("unhandled error")
        return _respond(500, "internal", _("Something went wrong on our side. Please try again in a moment."))
