"""The conformance report (a printable HTML page of the automatically evaluated PIPA / GDPR checklist) and the
records of processing built from the campaigns' published notices."""

from __future__ import annotations

from flask import render_template
from flask_babel import get_locale

from collection.compliance import Status, records_of_processing
from webapp.access import allow
from webapp.blueprints.comply.registry_views import OFFICERS
from webapp.blueprints.comply.views import bp
from webapp.compliance_services import conformance
from webapp.compliance_words import category_labels
from webapp.db import get_session
from webapp.services import clock


@bp.get("/conformance")
@allow(*OFFICERS)
def conformance_report() -> str:
    return render_template("comply/conformance.html", report=conformance().run(), Status=Status)


@bp.get("/processing")
@allow(*OFFICERS)
def processing_records() -> str:
    records = records_of_processing(get_session(), clock().now(), str(get_locale()))
    return render_template("comply/processing.html", records=records, category_labels=category_labels)
