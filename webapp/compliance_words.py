"""The compliance pages' codes in the reader's language: the data categories a consent notice declares per matter
(`consent.notice.Matter.data_categories`, slugs such as "face_image"), and what completing a rights request did
(`RightsRequest.outcome`, written by `collection.compliance.rights.RightsService.complete`). A category new to this
table is shown as it is written in the notice; an outcome without known keys as "recorded"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

DATA_CATEGORIES: dict[str, Any] = {
    "face_image": _l("face photos"),
    "capture_date": _l("when each photo was taken"),
    "age_at_capture": _l("age in each photo"),
    "age_band": _l("age band"),
    "birth_date": _l("date of birth"),
    "birth_year": _l("year of birth"),
    "contact_details": _l("contact details (e-mail, name)"),
    "email": _l("e-mail address"),
    "bank_account": _l("bank account for payment"),
    "face_features": _l("face features (biometric)"),
    "voice_features": _l("voice features (biometric)"),
    "voice_recording": _l("voice recordings"),
    "gender": _l("gender"),
}


def category_label(code: str) -> str:
    word = DATA_CATEGORIES.get(code)
    return code if word is None else str(word)


def category_labels(codes: Iterable[str]) -> list[str]:
    return [category_label(c) for c in codes]


@dataclass(frozen=True)
class OutcomeLine:
    """One thing completing the request did; `link` names the erasure ledger anchor when there is one."""

    text: str
    erasure_id: str | None = None


def outcome_lines(kind: str, outcome: Mapping[str, Any] | None, account_wide: bool = False) -> list[OutcomeLine]:
    """What completing a request of `kind` did, from its stored outcome (`account_wide`: a deletion of the whole
    account, which erases the account itself even when no campaign data was left)."""
    outcome = outcome or {}
    lines: list[OutcomeLine] = []
    if outcome.get("account_erased") or (kind == "deletion" and account_wide and "erasure_ids" in outcome):
        lines.append(OutcomeLine(_("The account was erased: name, e-mail, birth date, sign-in and payout account.")))
    if "erasure_ids" in outcome:
        ids = [str(i) for i in outcome.get("erasure_ids") or []]
        if not ids:
            lines.append(OutcomeLine(_("No campaign data to erase: none was held, or it had already been erased.")))
        for erasure_id in ids:
            lines.append(OutcomeLine(_("Erasure carried out (key destroyed, files and rows deleted)"), erasure_id))
    if "suspended_enrollments" in outcome:
        n = len(outcome.get("suspended_enrollments") or [])
        lines.append(OutcomeLine(
            _("Processing suspended in %(n)d campaign(s).", n=n) if n
            else _("Nothing new to suspend: processing was already suspended or the data erased.")))
    if outcome.get("export") == "self_service":
        lines.append(OutcomeLine(_("Pointed to the self-service download of everything held (\u201cMy data\u201d).")))
    if outcome.get("corrected_by_hand"):
        lines.append(OutcomeLine(_("Corrected by hand, as the note describes.")))
    if "corrected" in outcome:
        lines.append(OutcomeLine(corrected_text(outcome.get("corrected") or [], int(outcome.get("photos_corrected")
                                                                                    or 0))))
    if outcome and not lines:
        lines.append(OutcomeLine(_("Outcome recorded.")))
    return lines


CORRECTED_FIELDS = {
    "display_name": _l("name"),
    "birth_date": _l("birth date"),
    "photo_age": _l("a photo's age"),
}


def corrected_text(fields: Iterable[str], photos: int) -> str:
    """What a correction changed, by field name (the values are in the sealed columns only)."""
    names = [str(CORRECTED_FIELDS.get(f, f)) for f in fields]
    if not names:
        return _("Nothing was changed with the correction form; the note says what was done.")
    text = _("Corrected: %(fields)s.", fields=", ".join(names))
    if photos:
        text += " " + _("Ages of %(n)d photo(s) changed; their identity check runs again.", n=photos)
    return text


def step_message(step: str, kind: str, account_wide: bool, due: str = "") -> str:
    """The confirmation after an officer acts on a request: what was started, done or refused."""
    if step == "start":
        return _("Handling started: the request is now in progress. Answer it by %(due)s (10 days from receipt).",
                 due=due)
    if step == "refuse":
        return _("The request is refused and closed; the contributor sees your note.")
    if kind == "deletion" and account_wide:
        return _("Done: the account and all its data were erased; the request is closed.")
    return {
        "deletion": _("Done: the data in this campaign was erased; the request is closed and the contributor sees "
                      "your note."),
        "suspension": _("Done: processing is suspended; the request is closed and the contributor sees your note."),
        "access": _("The request is closed; the contributor sees your note."),
        "correction": _("The request is closed; the contributor sees your note."),
    }.get(kind, _("The request is closed."))


def correction_refusal(form: Any, exc: Any) -> None:
    """Put a refused correction (collection.compliance.CorrectionRefused) on the form field it concerns, in words;
    the form keeps what was typed."""
    data = exc.data
    words = {
        ("display_name", "empty"): _("Enter the name."),
        ("display_name", "too_long"): _("The name can be at most %(n)d characters long.", n=int(data.get("max", 100))),
        ("birth_date", "future"): _("A birth date must be in the past."),
        ("birth_date", "too_old"): _("A birth date more than %(n)d years ago is not plausible.",
                                     n=int(data.get("oldest", 120))),
        ("birth_date", "outside_campaign_ages"): _(
            "By this birth date the person was not within the ages %(lo)d to %(hi)d of a campaign they are enrolled "
            "in when they joined it. Nothing was changed. Complete a deletion for that campaign first, then correct "
            "the birth date.", lo=int(data.get("min_age", 0)), hi=int(data.get("max_age", 0))),
        ("birth_date", "needs_guardian"): _(
            "By this birth date the person was under 14 when they joined, but their consent was given without a "
            "legal representative (PIPA Art. 22-2). Nothing was changed. The person must first withdraw their "
            "consent; then correct the birth date, and they can consent again with a legal representative."),
        ("photo_age", "not_found"): _("This photo is no longer in the set. Reload the page."),
        ("photo_age", "outside_bracket"): _("The photo is in the bracket for ages %(lo)d to %(hi)d: its age must be "
                                            "within it. A photo in the wrong bracket is replaced by the contributor.",
                                            lo=int(data.get("min_age", 0)), hi=int(data.get("max_age", 0))),
        ("photo_age", "above_own_age"): _("The age in a photo cannot be above the person's age now (%(n)d).",
                                          n=int(data.get("own", 0))),
    }
    text = words.get((exc.field, exc.reason))
    target = getattr(form, exc.field, None) if exc.field != "request" else None
    if text is None or target is None:
        form.form_errors.append(_("This correction is not possible: the request is closed or the account erased."))
        return
    target.errors = [*target.errors, text]


# The audit log's actions, as the officer reads them; an action not listed shows its code.
AUDIT_ACTIONS: dict[str, Any] = {
    "access.denied": _l("access refused"),
    "access_review.signed_off": _l("access-log review signed off"),
    "audit.checkpoint_downloaded": _l("audit checkpoint downloaded"),
    "auth.signed_in": _l("signed in"),
    "auth.sign_in_failed": _l("sign-in failed"),
    "blobs.orphans_swept": _l("orphan files removed"),
    "campaign.created": _l("campaign created"),
    "campaign.updated": _l("campaign settings changed"),
    "campaign.opened": _l("campaign opened"),
    "campaign.closed": _l("campaign closed"),
    "campaign.enrolled": _l("joined a campaign"),
    "consent.bulk_verified": _l("consent signatures checked"),
    "consent.approved": _l("consent approved in the review queue"),
    "consent.flagged": _l("consent flagged for follow-up"),
    "consent.flag_resolved": _l("consent flag resolved"),
    "consent.withdrawn": _l("consent withdrawn"),
    "erasure.completed": _l("data erased"),
    "export.generated": _l("data export made"),
    "payout.batch_created": _l("payout batch made"),
    "payout.exported": _l("bank file exported"),
    "payout.marked_paid": _l("payout marked paid"),
    "payout_account.created": _l("payout account saved"),
    "payout_account.changed": _l("payout account changed"),
    "photo.uploaded": _l("photo uploaded"),
    "photo.removed": _l("photo removed"),
    "photo.viewed": _l("photo viewed"),
    "processing.suspended": _l("processing suspended"),
    "processing.resumed": _l("processing resumed"),
    "release.drafted": _l("release drafted"),
    "release.built": _l("release built"),
    "release.verified": _l("release verified"),
    "release.approved": _l("release approved"),
    "release.downloaded": _l("release downloaded"),
    "release.package_erased": _l("release package erased"),
    "release.withdrawal_list_issued": _l("withdrawal list issued"),
    "retention.run": _l("retention run"),
    "review.claimed": _l("set claimed for review"),
    "review.decided": _l("review decided"),
    "review.appealed": _l("decision appealed"),
    "review.appeal_decided": _l("appeal decided"),
    "rights.requested": _l("rights request received"),
    "rights.started": _l("rights request started"),
    "rights.completed": _l("rights request completed"),
    "rights.refused": _l("rights request refused"),
    "rights.corrected": _l("data corrected"),
    "set.submitted": _l("set sent for review"),
    "voice.uploaded": _l("recording uploaded"),
}


def action_label(action: str) -> str:
    """The officer's words for an audit action, or its code when it has none."""
    label = AUDIT_ACTIONS.get(action)
    return str(label) if label is not None else action


def event_choices(actions: Iterable[str]) -> list[tuple[str, str]]:
    """Filter choices: each family recorded ("release: every action"), then each action in it."""
    choices: list[tuple[str, str]] = []
    family = None
    for action in sorted(actions):
        head = action.split(".", 1)[0]
        if head != family:
            family = head
            choices.append((head, _("%(family)s: every action", family=head)))
        choices.append((action, f"  {action_label(action)} ({action})"))
    return choices
