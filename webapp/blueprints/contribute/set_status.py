"""How the contributor's set looks from outside the services: the set page and the JSON API
(GET /api/v1/campaigns/<slug>/set) show the same shapes built here - brackets with progress, each photo with its
state, age and gate results in plain words (webapp.gate_messages), what the contributor may do with it, the voice
prompts, and what still keeps the set from being submitted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from collection.campaigns import Campaign
from collection.contributions.models import Photo, PhotoSet, PhotoState, VoiceClip
from collection.errors import ConsentRequired, ContributionError, NotFound
from collection.review.models import APPEAL_WINDOW, Appeal, PhotoDecision
from consent.notice import MatterKind
from webapp.db import get_session
from webapp.gate_messages import (
    Advice,
    error_advice,
    gate_notes,
    missing_text,
    photo_state_label,
    reject_advice,
    set_state_label,
)
from webapp.services import clock, consent, contributions


def _lang() -> str:
    return str(get_locale())


def prompt_texts(campaign: Campaign, lang: str) -> dict[str, str]:
    return {p["key"]: str(p.get(f"text_{lang}") or p.get("text_ko") or p["key"]) for p in campaign.voice_prompts}


def _age_label(photo: Photo) -> str:
    if photo.age_years is None:
        return _("Age not given")
    if photo.age_source == "correction":  # collection.compliance.correction.CORRECTED
        return _("Age %(n)d (corrected at your request)", n=photo.age_years)
    if photo.age_source == "capture_date":
        return _("Age %(n)d (from the photo's date and your birth date)", n=photo.age_years)
    return _("Age %(n)d (as you gave it)", n=photo.age_years)


def _review_notes(photo: Photo) -> list[dict[str, Any]]:
    if photo.state is not PhotoState.REJECTED:
        return []
    words = reject_advice(photo.review_reason)
    notes = [{"gate": "review", "reason": photo.review_reason, "verdict": "rejected", **words.to_dict()}]
    if photo.review_comment:
        notes.append(
            {
                "gate": "review",
                "reason": "comment",
                "verdict": "rejected",
                "text": _("Reviewer's comment: %(c)s", c=photo.review_comment),
                "advice": "",
            }
        )
    return notes


class ReviewFacts:
    """Per photo of one set: the latest operator decision time and whether it was appealed (one query each)."""

    def __init__(self, photo_set: PhotoSet) -> None:
        session = get_session()
        decisions = session.scalars(select(PhotoDecision).where(PhotoDecision.set_id == photo_set.id))
        self.decided_at: dict[str, Any] = {}
        for d in decisions:
            if d.photo_id not in self.decided_at or d.at > self.decided_at[d.photo_id][0]:
                self.decided_at[d.photo_id] = (d.at, d.id)
        appeals = session.scalars(select(Appeal).where(Appeal.set_id == photo_set.id))
        self.appeals = {a.decision_id: a for a in appeals}

    def appeal_of(self, photo: Photo) -> Appeal | None:
        latest = self.decided_at.get(photo.id)
        return self.appeals.get(latest[1]) if latest else None

    def may_appeal(self, photo: Photo, now: Any) -> bool:
        latest = self.decided_at.get(photo.id)
        return (
            photo.state is PhotoState.REJECTED
            and latest is not None
            and now - latest[0] <= APPEAL_WINDOW
            and latest[1] not in self.appeals
        )


def _locked(notes: list[dict[str, Any]], editable: bool) -> list[dict[str, Any]]:
    """A set sent for review (or decided) cannot be changed: the notes keep what was found, without the advice to
    replace or record again that the contributor could not follow."""
    return notes if editable else [{**n, "advice": ""} for n in notes]


def _state_label(state: str, suspended: bool, label: Any = photo_state_label) -> str:
    """A photo or recording waiting for its checks while processing is suspended says that it waits for the
    suspension to be lifted (its check is skipped until then), not that it is being checked."""
    return photo_state_label("suspended") if suspended and state == PhotoState.CHECKING.value else str(label(state))


def photo_json(
    photo: Photo, editable: bool, facts: ReviewFacts | None = None, suspended: bool = False, frozen: bool = False
) -> dict[str, Any]:
    """What the set page and the API show of one photo (gate results already in the contributor's words).
    `frozen`: nothing new may be uploaded to the set (processing suspended, or the campaign closed before it was
    sent); deleting stays possible."""
    state = photo.state.value
    appeal = facts.appeal_of(photo) if facts else None
    to_replace = photo.state is PhotoState.FAILED and not photo.contributor_note
    notes = _review_notes(photo) + [n.to_dict() for n in gate_notes(photo.gates, photo.identity, to_replace=to_replace)]
    if photo.state in (PhotoState.ACCEPTED, PhotoState.REJECTED):
        notes = _review_notes(photo)  # after a human decision, the gates' opinion no longer matters
    notes = _locked(notes, editable)
    return {
        "id": photo.id,
        "bracket": photo.bracket,
        "state": state,
        "state_label": _state_label(state, suspended),
        "age_years": photo.age_years,
        "age_source": photo.age_source,
        "age_label": _age_label(photo),
        "thumb_url": url_for("contribute.photo_thumb", photo_id=photo.id, v=photo.version),
        "notes": notes,
        "your_note": photo.contributor_note,
        "appeal": None if appeal is None else {"state": appeal.state.value, "answer": appeal.answer},
        "actions": {
            "delete": editable,
            "replace": editable and not (suspended or frozen),  # a new upload would be refused
            "request_review": editable and photo.state is PhotoState.FAILED,
            # no appeal while processing is suspended: deciding it would process the photo (PIPA Art. 37)
            "appeal": bool(facts and not suspended and facts.may_appeal(photo, clock().now())),
        },
    }


# A recording that must be redone is recorded again, not "replaced with another photo": its own words.
CLIP_STATES = {
    "failed": _l("Did not pass: record it again"),
    "rejected": _l("Rejected: please record it again"),
}


def clip_state_label(state: str) -> str:
    return str(CLIP_STATES[state]) if state in CLIP_STATES else photo_state_label(state)


def clip_json(clip: VoiceClip | None, editable: bool, suspended: bool = False) -> dict[str, Any] | None:
    if clip is None:
        return None
    state = clip.state.value
    return {
        "id": clip.id,
        "state": state,
        "state_label": _state_label(state, suspended, clip_state_label),
        "duration_s": round(clip.duration_s, 1),
        "audio_url": url_for("contribute.voice_audio", clip_id=clip.id, v=clip.version),
        "notes": _locked([n.to_dict() for n in gate_notes(clip.gates, voice=True,
                                                          to_replace=clip.state is PhotoState.FAILED)], editable),
        "actions": {"rerecord": editable},
    }


def voice_consented(campaign: Campaign) -> bool:
    return MatterKind.VOICE_RECORDING in consent().active_kinds(current_user.user.subject_id, campaign.id)


def set_status(campaign: Campaign, photo_set: PhotoSet) -> dict[str, Any]:
    """The whole set as the page and GET /api/v1/campaigns/<slug>/set show it."""
    service, lang, editable = contributions(), _lang(), photo_set.editable
    suspended = service.suspended(photo_set)
    closed = service.closed_to_new(campaign, photo_set)
    frozen = suspended or closed
    facts = ReviewFacts(photo_set)
    prompts = prompt_texts(campaign, lang)
    missing = service.missing(campaign, photo_set) if editable else []
    by_bracket: dict[str, list[dict[str, Any]]] = {}
    for photo in photo_set.current_photos:
        by_bracket.setdefault(photo.bracket, []).append(photo_json(photo, editable, facts, suspended, frozen))
    held = {key: BracketHold.of(photos) for key, photos in by_bracket.items()}
    clips = {c.prompt_key: c for c in photo_set.voice_clips}
    checking = any(p.state is PhotoState.CHECKING for p in photo_set.current_photos) or any(
        c.state is PhotoState.CHECKING for c in photo_set.voice_clips
    )
    return {
        "campaign": campaign.slug,
        "state": photo_set.state.value,
        "state_label": set_state_label(photo_set.state.value),
        "editable": editable,
        "round": photo_set.round,
        "ready": editable and not missing and not frozen,
        # nothing is checked while processing is suspended: the page need not wait for results
        "checking": checking and not suspended,
        "suspended": suspended,
        "closed": closed,  # the campaign closed before this set was sent: nothing more goes into it
        "frozen": frozen,  # no upload, recording or sending now (suspended or closed)
        # photos a reviewer rejected that are still in the set (none left after an upheld appeal or replacements)
        "rejected_left": sum(h.rejected for h in held.values()),
        "missing": [{"code": code, "text": _missing_text(code, prompts, held)} for code in missing],
        "brackets": [
            {
                "key": p.key,
                "min_age": p.min_age,
                "max_age": p.max_age,
                "required": p.required,
                "usable": p.usable,
                "blocking": p.blocking,
                "photos": by_bracket.get(p.key, []),
                **held.get(p.key, BracketHold()).to_dict(),
                "count_label": count_label(p.usable, p.required, held.get(p.key, BracketHold()), suspended),
            }
            for p in service.progress(campaign, photo_set)
        ],
        "voice": [
            {
                "key": p["key"],
                "text": prompts[p["key"]],
                "min_seconds": p.get("min_seconds"),
                "max_seconds": p.get("max_seconds"),
                "clip": clip_json(clips.get(p["key"]), editable, suspended),
            }
            for p in campaign.voice_prompts
        ],
        "voice_consented": voice_consented(campaign) if campaign.voice_prompts else True,
    }


def refusal(err: ContributionError, campaign: Campaign | None = None) -> Advice:
    return error_advice(err, prompt_texts(campaign, _lang()) if campaign else None)


def require_voice_consent(campaign: Campaign) -> None:
    """Recording needs the optional voice matter in force; without it the checks would never run."""
    if not voice_consented(campaign):
        raise ConsentRequired("consent to voice recording first", matter="voice_recording")


def owned_clip(clip_id: str) -> VoiceClip:
    clip = get_session().get(VoiceClip, clip_id)
    if clip is None or clip.user_id != current_user.user.id:
        raise NotFound("voice_clip", clip_id)
    return clip


def campaign_of(photo: Photo) -> Campaign:
    return get_session().get(Campaign, photo.campaign_id)  # type: ignore[return-value]


@dataclass(frozen=True)
class BracketHold:
    """What holds a bracket up, counted apart: photos still being checked, photos that did not pass the checks,
    and photos a reviewer rejected (with the reviewer's reasons, in the contributor's words)."""

    checking: int = 0
    failed: int = 0
    rejected: int = 0
    rejected_reasons: tuple[str, ...] = ()
    # counted among the usable photos (they do not block sending the set), but not yet passed: a person will look
    with_person: int = 0

    @classmethod
    def of(cls, photos: list[dict[str, Any]]) -> BracketHold:
        states = [p["state"] for p in photos]
        reasons = tuple(dict.fromkeys(
            n["text"] for p in photos if p["state"] == "rejected" for n in p["notes"] if n["verdict"] == "rejected"
        ))
        return cls(states.count("checking"), states.count("failed"), states.count("rejected"), reasons,
                   states.count("needs_review"))

    def to_dict(self) -> dict[str, Any]:
        return {"checking": self.checking, "failed": self.failed, "rejected": self.rejected,
                "rejected_reasons": list(self.rejected_reasons), "with_person": self.with_person}


def count_label(usable: int, required: int, hold: BracketHold, suspended: bool = False) -> str:
    """"2 of 10 photos ready · 1 being checked · 2 to replace": the bracket's count, with what holds it up. The set
    page renders this same label and the JSON API carries it, so a live update and a reload say the same."""
    label = _("%(usable)d of %(required)d photos ready", usable=usable, required=required)
    if hold.with_person:
        label += " " + _("(%(n)d of them to be checked by a person)", n=hold.with_person)
    if hold.checking and suspended:
        label += " · " + _("%(n)d waiting until processing resumes", n=hold.checking)
    elif hold.checking:
        label += " · " + _("%(n)d being checked", n=hold.checking)
    if hold.failed + hold.rejected:
        label += " · " + _("%(n)d to replace", n=hold.failed + hold.rejected)
    return label


def _missing_text(code: str, prompts: dict[str, str], held: dict[str, BracketHold]) -> str:
    """A missing item in words; a bracket's blocking photos are told apart (being checked, or to replace)."""
    parts = code.split(":")
    if len(parts) != 4 or parts[0] != "bracket" or parts[2] != "blocking":
        return missing_text(code, prompts)
    hold, bracket = held.get(parts[1], BracketHold()), parts[1].replace("-", "–")  # as the headings write it
    said = []
    if hold.checking:
        said.append(_("Ages %(bracket)s: %(n)d photo(s) still being checked.", bracket=bracket, n=hold.checking))
    if hold.failed + hold.rejected:
        said.append(_("Ages %(bracket)s: replace %(n)d photo(s).", bracket=bracket, n=hold.failed + hold.rejected))
    return " ".join(said) or missing_text(code, prompts)


def voice_withdrawn(campaign: Campaign) -> bool:
    """Whether the contributor gave the voice recording consent and then withdrew it (rather than never giving
    it): the last record that changed it was a withdrawal. A new signature without it (taking part anew) counts
    as not given."""
    voice_ids = {m.id for v in consent().versions(campaign.id) for m in v.notice.matters
                 if m.kind is MatterKind.VOICE_RECORDING}
    withdrawn, before = False, False
    for record in consent().records(current_user.user.subject_id, campaign.id):
        now = any(record.decisions.get(m, False) for m in voice_ids)
        if now or record.event == "given":
            withdrawn = False
        elif before and record.event == "withdrawn":
            withdrawn = True
        before = now
    return withdrawn
