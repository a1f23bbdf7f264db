"""The conformance report's evidence lines in the reader's language: `collection.compliance.conformance.Said`
carries a stable code and its numbers; an unknown line is shown as the check worded it."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

EVIDENCE: dict[str, Any] = {
    "stored_checked": _l("%(photos)d stored photos and %(clips)d stored recordings checked against the consents in "
                         "force"),
    "campaigns_closed": _l("%(closed)d closed campaigns, %(expired)d past their retention period"),
    "held_past_retention": _l("%(due)d enrollments still hold data past retention"),
    "blobs_read": _l("%(checked)d biometric objects (photos, thumbnails, face encodings, recordings) read raw from "
                     "storage"),
    "checkpoint_folder": _l("Checkpoint folder: %(folder)s"),
    "events_recomputed": _l("%(size)d sequenced events recomputed, %(pending)d not yet sequenced"),
    "checkpoints_verified": _l("%(checkpoints)d signed checkpoints verified; the last covers %(last_size)s events "
                               "(%(last_time)s)"),
    "requests_received": _l("%(received)d requests received in the last 12 months, %(open)d open"),
    "requests_late": _l("%(late)d answered after their 10-day deadline"),
    "notices_checked": _l("%(versions)d published notice versions checked item by item"),
    "erasure_obligations": _l("%(obligations)d erasure obligations (retention, withdrawal, deletion requests), "
                              "%(done)d done"),
    "access_rule": _l("Every month with staff views must be signed off within 15 days of its end"),
    "no_release": _l("No release has been built"),
    "no_release_workflow": _l("The release workflow is not installed"),
    "releases_checked": _l("%(releases)d releases, %(approved)d approved; each approval checked against its "
                           "verification"),
}


def evidence_text(line: str) -> str:
    """`line` in the reader's language when it is a known `Said` line, else as it is."""
    template = EVIDENCE.get(getattr(line, "code", ""))
    if template is None:
        return str(line)
    try:
        return str(template) % getattr(line, "params", {})
    except (KeyError, TypeError, ValueError):  # a line whose numbers do not fit the words: show it as worded
        return str(line)
