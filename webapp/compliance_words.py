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
    if outcome and not lines:
        lines.append(OutcomeLine(_("Outcome recorded.")))
    return lines


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
