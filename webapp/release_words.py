"""The release workflow's refusals and failed builds in the reader's language. `collection.releases` raises
ReleaseStateError, ApprovalRefused and DeliveryRefused with a stable `code` (and `count` where a number is named)
and keeps a failed build's code and excluded contributors on the release; here they become sentences. An error
without a known code is shown as the service worded it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from collection.releases import ApprovalRefused, DeliveryRefused, ReleaseError, ReleaseStateError

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
}

# Why an approval (approve) or a download (deliver) was refused, by code.
REFUSED: dict[str, Any] = {
    "not_officer": _l("only a compliance officer approves releases"),
    "not_built": _l("the release is not built yet"),
    "own_build": _l("the person who built a release does not approve it"),
    "verification_failed": _l("its verification has not passed"),
    "not_verified": _l("it has not been verified"),
    "not_approved": _l("it is not approved"),
    "package_missing": _l("the package is no longer on this server"),
    "package_changed": _l("the package on disk is not the one that was built and verified"),
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
    if error.get("kind") == "NothingToRelease":
        excluded = error.get("excluded") or {}
        if not excluded:
            return _("Nothing to release: no accepted photo or recording yet.")
        reasons = ", ".join(f"{excluded_label(k)}: {v}" for k, v in sorted(excluded.items()))
        return _("Nothing to release: no contributor qualifies (left out: %(reasons)s).", reasons=reasons)
    if error.get("kind") == "ReleaseBuildFailed":
        return _("The package could not be written and nothing was left on disk (%(detail)s).",
                 detail=str(error.get("message", "")).split(": ", 1)[-1])
    word = STATE.get(str(error.get("code") or ""))
    return str(error.get("message", "")) if word is None else str(word)
