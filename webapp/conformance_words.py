"""The conformance report's legal bases, evidence and problem lines (and the audit log verification's problems)
in the reader's language: `collection.said.Said` carries a stable code and its values; values that are words (kinds of
object, consent matters, request kinds and states) are worded too, ids and dates are shown as they are. An unknown
line is shown as the check worded it."""

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
    "sealed_rule": _l("Each must open as no image, array or audio file, have the sealed format (AES-256-GCM, "
                      "version 1) and belong to a live per-contributor key row"),
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
    # problems
    "no_consent": _l("%(kind)s %(object)s (subject %(subject)s): no consent in force to %(missing)s"),
    "retention_ended": _l("Enrollment %(enrollment)s of campaign %(campaign)s: retention ended %(ended)s"),
    "blob_missing": _l("%(kind)s of %(object)s: the file is missing from storage"),
    "blob_in_clear": _l("%(kind)s of %(object)s: stored in clear (opens as a file of type %(opens_as)s)"),
    "blob_not_sealed": _l("%(kind)s of %(object)s: not in the sealed format"),
    "blob_no_key": _l("%(kind)s of %(object)s: its holder has no key (it was never sealed under a contributor "
                      "key)"),
    "blob_key_destroyed": _l("%(kind)s of %(object)s: its key was destroyed but the object is still listed "
                             "(erasure incomplete)"),
    "no_checkpoint": _l("No signed checkpoint exists: run `datadam audit checkpoint`"),
    "request_overdue": _l("Request %(request)s (%(kind)s): due %(due)s, %(state)s"),
    "notice_incomplete": _l("Notice %(notice)s: %(count)d items missing: %(shown)s"),
    "erasure_overdue": _l("%(source)s %(ref)s: due since %(due)s, not erased"),
    "erasure_late": _l("%(source)s %(ref)s: due since %(due)s, erased only %(done)s"),
    "month_unreviewed": _l("%(month)s: staff views of biometric objects not signed off"),
    "release_unverified": _l("Release %(release)s: approved without a passing verification"),
    "release_verified_late": _l("Release %(release)s: verified only after its approval"),
    # the audit log's verification (collection.audit.checkpoints.verify), on the audit page and in this report
    "event_deleted": _l("The event at position %(position)d is missing (the next is at %(next)d): it was deleted"),
    "event_edited": _l("Event %(event)s at position %(position)d was edited (its content no longer matches)"),
    "checkpoint_folder_missing": _l("The checkpoint folder %(folder)s does not exist: check the path; `datadam "
                                    "audit checkpoint` creates it"),
    "checkpoints_absent": _l("No signed checkpoint in %(folder)s although the log holds %(events)d events: "
                             "checkpoints were deleted or this is the wrong folder (a new installation: run "
                             "`datadam audit checkpoint`)"),
    "keys_file_missing": _l("%(file)s is missing beside the checkpoints"),
    "checkpoint_bad_signature": _l("Checkpoint of %(size)d events signed at %(time)s: bad signature or unknown key"),
    "checkpoint_log_shorter": _l("Checkpoint of %(size)d events signed at %(time)s: the log holds only %(events)d "
                                 "events: truncated, or restored from an older backup"),
    "checkpoint_root_mismatch": _l("Checkpoint of %(size)d events signed at %(time)s: the first %(size)d events no "
                                   "longer give the signed root: an event between positions %(first)d and %(size)d "
                                   "was reordered, deleted or rewritten"),
}

# The legal basis of each check, by check key (the collection layer cites it in English for the CLI and JSON).
BASIS: dict[str, Any] = {
    "consent_for_stored_data": _l("PIPA Art. 15(1), 22, 23; GDPR Art. 6(1)(a), 7, 9(2)(a)"),
    "retention": _l("PIPA Art. 21; GDPR Art. 5(1)(e)"),
    "encryption": _l("PIPA Art. 23(2), 29; GDPR Art. 9, 32(1)(a); PIPA biometric guideline (2021)"),
    "audit_log": _l("PIPA Art. 29 (safety measures: access records); GDPR Art. 5(2), 30"),
    "releases_verified": _l("PIPA Art. 17, 28-2 (pseudonymised provision); GDPR Art. 5(1)(f), 89"),
    "rights_requests": _l("PIPA Art. 35-38, Enforcement Decree Art. 41-44; GDPR Art. 12(3)"),
    "notices_complete": _l("PIPA Art. 15(2), 17(2), 22, 23; GDPR Art. 13"),
    "erasure_timely": _l("PIPA Art. 21, Enforcement Decree Art. 16; GDPR Art. 17(1)"),
    "access_reviewed": _l("PIPA safety-measure standards Art. 8 (access records kept, checked monthly)"),
}

# Values that are words, by the name of the value they fill.
VALUE_WORDS: dict[str, dict[str, Any]] = {
    "kind": {
        "photo": _l("Photo"), "voice_clip": _l("Recording"), "thumbnail": _l("Thumbnail"),
        "face encoding": _l("Face encoding"), "recording": _l("Recording"),
        "access": _l("access"), "correction": _l("correction"), "deletion": _l("deletion"),
        "suspension": _l("suspension of processing"),
    },
    "source": {"retention": _l("End of retention"), "withdrawal": _l("Withdrawal"),
               "deletion_request": _l("Deletion request")},
    "state": {"open": _l("not started yet"), "in_progress": _l("still in progress")},
}


def _worded(name: str, value: Any) -> Any:
    if name == "missing" and isinstance(value, list | tuple):
        from webapp.blueprints.operate.consent_forms import kind_label

        return ", ".join(kind_label(v) for v in value)
    word = VALUE_WORDS.get(name, {}).get(value) if isinstance(value, str) else None
    return value if word is None else str(word)


def basis_text(key: str, basis: str) -> str:
    """The legal basis of check `key` in the reader's language; an unknown check's basis as it is cited."""
    worded = BASIS.get(key)
    return basis if worded is None else str(worded)


def evidence_text(line: str) -> str:
    """`line` in the reader's language when it is a known `Said` line, else as it is."""
    template = EVIDENCE.get(getattr(line, "code", ""))
    if template is None:
        return str(line)
    try:
        return str(template) % {k: _worded(k, v) for k, v in getattr(line, "params", {}).items()}
    except (KeyError, TypeError, ValueError):  # a line whose numbers do not fit the words: show it as worded
        return str(line)
