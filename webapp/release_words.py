"""The release workflow's refusals, failed builds and verification failures in the reader's language.
`collection.releases` raises ReleaseStateError, ApprovalRefused and DeliveryRefused with a stable `code` (and
`count` where a number is named) and keeps a failed build's code and excluded contributors on the release; each
failure of a stored verification report carries anonymize's `code` and `params`; here they become sentences. An
error or failure without a known code (a report stored before failures carried codes) is shown as it was worded."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from collection.releases import ApprovalRefused, DeliveryRefused, ReleaseError, ReleaseStateError

# The side-table fields a release may carry (collection.releases.fields.ALLOW_LIST), by name.
FIELD_LABELS: dict[str, Any] = {"age_bracket": _l("Age bracket"), "gender": _l("Gender"), "region": _l("Region")}


def field_labels(names: Iterable[str]) -> str:
    """Released field names in the reader's language, comma-separated (an unknown name as it is)."""
    return ", ".join(str(FIELD_LABELS.get(name, name)) for name in names)


# Why contributors were left out of a release (collection.releases.selection), by reason.
EXCLUDED: dict[str, Any] = {
    "erased": _l("data erased"),
    "enrollment_withdrawn": _l("withdrew from the campaign"),
    "processing_suspended": _l("processing suspended at their request"),
    "consent_withdrawn": _l("withdrew the consent to provision"),
    "no_third_party_consent": _l("did not agree to provision to third parties"),
    "no_accepted_items": _l("no accepted photo or recording"),
}

STATE: dict[str, Any] = {
    "already_built": _l("This release is already built: draft a new release instead."),
    "not_built": _l("Build the release first."),
    "already_approved": _l("This release is already approved."),
    "not_verified": _l("Only a release whose verification passed can be approved."),
    "package_changed_during_check": _l("The package changed while it was being verified: verify it again."),
    "package_unavailable": _l("The stored package cannot be read right now: try again later."),
}

# Why an approval (approve) or a download (deliver) was refused, by code.
REFUSED: dict[str, Any] = {
    "not_officer": _l("only a compliance officer approves releases"),
    "not_built": _l("the release is not built yet"),
    "own_build": _l("the person who built a release does not approve it"),
    "verification_failed": _l("its verification has not passed"),
    "not_verified": _l("it has not been verified"),
    "not_approved": _l("it is not approved"),
    "package_missing": _l("the package is no longer stored: build the release again"),
    "package_changed": _l("the stored package is not the one that was built and verified"),
    "package_unavailable": _l("the stored package cannot be read right now: try again later"),
    "not_a_file": _l("the package is a folder, not a single file: build it as a .zip to download it here"),
}


# Kinds of personal data (anonymize.find_pii), as the object of a sentence.
PII_WORDS: dict[str, Any] = {
    "email": _l("an email address"), "rrn": _l("a resident registration number"), "phone": _l("a phone number"),
    "card": _l("a card number"), "account": _l("an account number"), "name": _l("a person's name"),
}

# Why a verification check failed, by anonymize's failure code (see anonymize._verify); `error` is a library's own
# message, shown as it is.
FAILURE: dict[str, Any] = {
    "required_file_missing": _l("required file missing"),
    "unexpected_file": _l("unexpected file in the package"),
    "no_signature": _l("no signature"),
    "unknown_key": _l("signed by key %(key_id)s, which is not among the trusted public keys"),
    "bad_signature": _l("the signature does not verify (key %(key_id)s)"),
    "unreadable_key": _l("the trusted public key %(key_id)s is unreadable"),
    "unreadable_signature": _l("unreadable signature document: %(error)s"),
    "not_signed": _l("not covered by the signature"),
    "digest_mismatch": _l("digest does not match the signed statement"),
    "unreadable_manifest": _l("unreadable manifest: %(error)s"),
    "manifest_disagree": _l("manifest.csv and manifest.jsonl disagree"),
    "listed_repeatedly": _l("listed %(count)d times in the manifest"),
    "listed_but_missing": _l("listed in the manifest but missing"),
    "not_in_manifest": _l("media file not in the manifest"),
    "checksum_mismatch": _l("size or SHA-256 differs from the manifest"),
    "unreleasable_format": _l("not a releasable media format: %(format)s"),
    "tags_not_allowed": _l("tags outside the allow-list: %(tags)s"),
    "undecodable_image": _l("image could not be decoded for the face check: %(error)s"),
    "extra_faces": _l("%(count)d faces detectable (one subject allowed): %(boxes)s"),
    "exiftool_unavailable": _l("exiftool could not check the files: %(error)s"),
    "pii_in_file_name": _l("the file name looks like it holds personal data: %(kind)s"),
    "pii_in_line": _l("line %(line)d looks like it holds personal data: %(kind)s"),
    "datasheet_unreadable": _l("the datasheet's quasi-identifiers or k cannot be read: %(error)s"),
    "datasheet_k_invalid": _l("the datasheet's k must be a whole number of at least 1 (it says %(value)s)"),
    "columns_missing": _l("columns missing from the manifest: %(columns)s"),
    "k_too_low": _l("the rarest signature is shared by %(achieved)d distinct people; k required %(required)d "
                    "(k_min %(k_min)d, datasheet k %(promised)d)"),
    "no_such_package": _l("no package at this path"),
    "not_a_package": _l("not a zip, tar or directory package: %(error)s"),
    "stored_copy_missing": _l("the stored copy of the package is gone"),
    "stored_copy_altered": _l("the stored copy of the package does not open: it was altered or replaced"),
    "package_changed": _l("the package does not carry the statement recorded at the build: it is not the one built"),
}


def excluded_label(reason: str) -> str:
    """Why contributors were left out, in the reader's language (an unknown reason as it is)."""
    word = EXCLUDED.get(reason)
    return reason if word is None else str(word)


def _reason(exc: ApprovalRefused | DeliveryRefused) -> str:
    if exc.code == "withdrawn":
        return _("%(n)d contributor(s) withdrew since the build: build a new release", n=exc.count)
    word = REFUSED.get(exc.code)
    return exc.reason if word is None else str(word)


def refusal_text(exc: ReleaseError) -> str:
    """A refused release step in the reader's language; an error without a known code as the service worded it."""
    if isinstance(exc, ApprovalRefused):
        return _("Approval refused: %(reason)s.", reason=_reason(exc))
    if isinstance(exc, DeliveryRefused):
        return _("The package cannot be downloaded: %(reason)s.", reason=_reason(exc))
    word = STATE.get(exc.code) if isinstance(exc, ReleaseStateError) else None
    return str(exc) if word is None else str(word)


def build_error_text(error: Mapping[str, Any]) -> str:
    """Why the last build did not finish (the release's stored `build_error`) in the reader's language."""
    if error.get("kind") == "NothingToRelease" and "excluded" in error:  # stored before 2026-11-22: as worded
        excluded = error.get("excluded") or {}
        if not excluded:
            return _("Nothing to release: no accepted photo or recording yet.")
        reasons = ", ".join(f"{excluded_label(k)}: {v}" for k, v in sorted(excluded.items()))
        return _("Nothing to release: no contributor qualifies (left out: %(reasons)s).", reasons=reasons)
    if error.get("kind") == "ReleaseBuildFailed":
        code = error.get("code")
        if code == "store_failed":
            return _("The package could not be kept in the blob store, so nothing was recorded: try the build again "
                     "later (the server log has the details).")
        if code == "data_changed":
            return _("Some contributors' data changed or was erased while the release was being built, so the "
                     "package was not kept: build it again.")
        if code == "target_exists":
            return _("The path asked for the package already exists: nothing was written.")
        return _("The package could not be written and nothing was left on disk: try the build again (the server "
                 "log has the details).")
    word = STATE.get(str(error.get("code") or ""))
    return str(error.get("message", "")) if word is None else str(word)


def _failure_value(name: str, value: Any) -> Any:
    if name == "kind":
        word = PII_WORDS.get(value) if isinstance(value, str) else None
        return value if word is None else str(word)
    if name == "format":
        return _("unrecognised data") if value is None else value
    if name == "boxes":  # (left, top, right, bottom) of each face, as the English detail lists them
        return "; ".join("(" + ", ".join(str(v) for v in box) + ")" for box in value)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return value


def failure_text(failure: Mapping[str, Any]) -> str:
    """Why a verification check failed (one failure of a stored report, or of ApprovalRefused.failures), in the
    reader's language; a failure without a known code, or whose params do not fit the words, as anonymize
    worded it in English."""
    template = FAILURE.get(str(failure.get("code") or ""))
    detail = str(failure.get("detail") or "")
    if template is None:
        return detail
    params = failure.get("params") or {}
    if not isinstance(params, Mapping):
        return detail
    try:
        return str(template) % {k: _failure_value(k, v) for k, v in params.items()}
    except (KeyError, TypeError, ValueError):
        return detail
