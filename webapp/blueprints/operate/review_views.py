"""The operator's full inspection pages: the review queue (oldest first) with claim and release, the review page
of a set (each photo with its gate evidence, the set's identity distances, one decision per photo sent as one
form, what changed since the last round and the decision history), the decrypting photo endpoint, and appeals.

Privacy decisions: the pages show what inspection needs - photos, the age the contributor gave for each, gate
measurements, the contributor's note - and never the contributor's name, e-mail or birth date. Every photo
served to staff is decrypted on the fly, never cached (Cache-Control: no-store) and leaves a "photo.viewed"
audit event with the viewer's id (PIPA: each access to a biometric object is logged). A contributor who
withdrew consent has their photos shown to no one (the review service refuses).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from collection.accounts import Role, User
from collection.campaigns import Campaign
from collection.compliance.rights import days_until
from collection.contributions.models import Photo, PhotoSet, PhotoState, SetState
from collection.errors import BlobNotFound, ConsentRequired, CryptoError, InvalidTransition, NotFound
from collection.review.models import Appeal, PhotoDecision
from webapp.access import allow
from webapp.blueprints.operate.review_forms import (
    REASON_LABELS,
    AppealDecisionForm,
    SetDecisionForm,
    appeal_form,
    field_name,
    reason_label,
    set_decision_form,
)
from webapp.blueprints.operate.views import bp
from webapp.db import get_session
from webapp.gate_messages import gate_advice
from webapp.review_words import (
    comparison,
    comparison_text,
    evidence,
    identity_explanation,
    identity_headline,
    identity_verdict_label,
)
from webapp.services import campaigns, clock, payments, review, uploads

OPERATORS = (Role.OPERATOR, Role.ADMIN)
SAME_PERSON_TOLERANCE = 0.6  # face_recognition's default match distance: shown as a guide, not a verdict


def set_state_labels() -> dict[str, str]:
    return {
        SetState.SUBMITTED.value: _("waiting for review"),
        SetState.IN_REVIEW.value: _("in review"),
        SetState.AWAITING_SECOND_REVIEW.value: _("waiting for a second review"),
        SetState.CHANGES_REQUESTED.value: _("changes requested"),
        SetState.ACCEPTED.value: _("accepted"),
        SetState.PAID.value: _("paid"),
        SetState.DRAFT.value: _("draft"),
        SetState.WITHDRAWN.value: _("withdrawn"),
    }


def photo_state_labels() -> dict[str, str]:
    return {
        PhotoState.CHECKING.value: _("being checked"),
        PhotoState.PASSED.value: _("passed the checks"),
        PhotoState.FAILED.value: _("failed a check"),
        PhotoState.NEEDS_REVIEW.value: _("needs a person to look"),
        PhotoState.ACCEPTED.value: _("accepted"),
        PhotoState.REJECTED.value: _("rejected"),
    }


def gate_labels() -> dict[str, str]:
    """Operator-language names of the photo gates (an unknown gate shows its code)."""
    return {
        "decode": _("File"),
        "face_found": _("Face found"),
        "face_size": _("Face size"),
        "pose": _("Head pose"),
        "occlusion": _("Face covered"),
        "sharpness": _("Sharpness"),
        "exposure": _("Exposure"),
        "duplicate": _("Duplicate"),
        "identity": _("Same person"),
        "check": _("Automatic check"),
    }


# --- what the pages show -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateRow:
    name: str
    verdict: str
    reason: str | None
    measured: Mapping[str, Any]
    threshold: Mapping[str, Any]


@dataclass(frozen=True)
class FaceBox:
    """The dominant face in original pixels, as an SVG rectangle over a picture of `width` x `height`."""

    x: int
    y: int
    w: int
    h: int
    width: int
    height: int


@dataclass(frozen=True)
class PhotoCard:
    number: int
    photo: Photo
    gates: list[GateRow]
    box: FaceBox | None
    inter_eye_px: float | None
    changed: bool  # new in this round: a replacement or an added photo
    replaced: Photo | None  # the rejected photo it replaces, while it is still stored
    decisions: list[PhotoDecision] = field(default_factory=list)
    replaced_decisions: list[PhotoDecision] = field(default_factory=list)  # what was decided on that photo


@dataclass(frozen=True)
class IdentityMatrix:
    labels: list[str]
    rows: list[list[float | None]]
    consistent: bool | None
    age_mode: str | None
    labelled: bool  # False when the rows cannot be matched to photos (shown by position only)


def ordered_photos(photo_set: PhotoSet, campaign: Campaign | None) -> list[Photo]:
    """Bracket by bracket in the campaign's order, then in upload order."""
    order = {b["key"]: i for i, b in enumerate(campaign.brackets if campaign else [])}
    return sorted(photo_set.current_photos, key=lambda p: (order.get(p.bracket, len(order)), p.created_at, p.id))


def gate_rows(gates: Mapping[str, Any]) -> list[GateRow]:
    rows = []
    for g in gates.get("gates") or []:
        # rows written without a verdict (a check that could not run) say it with passed/review
        verdict = g.get("verdict") or ("review" if g.get("review") else "pass" if g.get("passed") else "fail")
        rows.append(GateRow(str(g.get("name", "")), str(verdict), g.get("reason"), g.get("measured") or {},
                            g.get("threshold") or {}))
    return rows


def face_box(photo: Photo) -> FaceBox | None:
    """gates["faces"][0]["box"] is [top, right, bottom, left] in original (orientation-corrected) pixels."""
    faces = (photo.gates or {}).get("faces") or []
    width = photo.width or (photo.gates or {}).get("width") or 0
    height = photo.height or (photo.gates or {}).get("height") or 0
    if not faces or not width or not height:
        return None
    try:
        top, right, bottom, left = (int(v) for v in faces[0]["box"])
    except (KeyError, TypeError, ValueError):
        return None
    return FaceBox(left, top, max(right - left, 0), max(bottom - top, 0), int(width), int(height))


def inter_eye(photo: Photo) -> float | None:
    faces = (photo.gates or {}).get("faces") or []
    value = faces[0].get("inter_eye_px") if faces and isinstance(faces[0], Mapping) else None
    return float(value) if isinstance(value, int | float) else None


def photo_cards(photo_set: PhotoSet, photos: Sequence[Photo], history: Sequence[PhotoDecision]) -> list[PhotoCard]:
    session = get_session()
    cards = []
    for number, photo in enumerate(photos, 1):
        changed = photo_set.round > 1 and photo.round == photo_set.round
        replaced = session.get(Photo, photo.replaces_id) if changed and photo.replaces_id else None
        cards.append(
            PhotoCard(
                number,
                photo,
                gate_rows(photo.gates or {}),
                face_box(photo),
                inter_eye(photo),
                changed,
                replaced,
                [d for d in history if d.photo_id == photo.id],
                [d for d in history if photo.replaces_id and d.photo_id == photo.replaces_id],
            )
        )
    return cards


def identity_matrix(photo_set: PhotoSet, numbers: Mapping[str, int]) -> IdentityMatrix | None:
    """The set gate's distance matrix. Its rows follow the photos the gate compared (upload order, photos still
    being checked left out) unless the gate stored their ids; rows that cannot be matched show positions only."""
    identity = photo_set.identity or {}
    rows = identity.get("distance_matrix")
    if not rows:
        return None
    ids: list[str] = list(identity.get("photo_ids") or [])
    if not ids:
        compared = [p.id for p in photo_set.current_photos if p.state is not PhotoState.CHECKING]
        ids = compared if len(compared) == len(rows) else []
    labelled = bool(ids) and len(ids) == len(rows) and all(i in numbers for i in ids)
    if not labelled:
        labels = [f"{n}" for n in range(1, len(rows) + 1)]
        return IdentityMatrix(labels, rows, identity.get("consistent"), identity.get("age_mode"), False)
    order = sorted(range(len(ids)), key=lambda k: numbers[ids[k]])  # rows and columns in the page's order
    labels = [f"#{numbers[ids[k]]}" for k in order]
    ordered = [[rows[i][j] for j in order] for i in order]
    return IdentityMatrix(labels, ordered, identity.get("consistent"), identity.get("age_mode"), True)


def user_names(ids: Sequence[str | None]) -> dict[str, str]:
    """Staff display names for the pages (operators see each other's names; contributors' names never show)."""
    session = get_session()
    names = {}
    for user_id in {i for i in ids if i}:
        user = session.get(User, user_id)
        names[user_id] = (user.display_name or user.email or user_id) if user else user_id
    return names


# --- the queue, claiming and releasing ---------------------------------------------------------------------


@bp.get("/review")
@allow(*OPERATORS)
def review_queue() -> str:
    slug = request.args.get("campaign")
    campaign = campaigns().by_slug(slug) if slug else None
    sets = review().queue(campaign)
    session = get_session()
    return render_template(
        "operate/review/queue.html",
        sets=sets,
        campaign=campaign,
        campaigns_by_id={s.campaign_id: session.get(Campaign, s.campaign_id) for s in sets},
        names=user_names([s.claimed_by for s in sets] + [s.first_reviewer_id for s in sets]),
        state_labels=set_state_labels(),
        me=current_user.user.id,
    )


@bp.post("/review/sets/<set_id>/claim")
@allow(*OPERATORS)
def review_claim(set_id: str) -> Response:
    service = review()
    photo_set = service.get_set(set_id)
    try:
        service.claim(current_user.user, photo_set)
    except (InvalidTransition, ConsentRequired) as exc:
        get_session().rollback()
        flash(refusal(exc, photo_set), "error")
        return redirect(url_for("operate.review_queue"))
    get_session().commit()
    flash(_("The set is yours to review: no other operator can claim it until you decide or release it."), "success")
    return redirect(url_for("operate.review_set", set_id=set_id))


@bp.post("/review/sets/<set_id>/release")
@allow(*OPERATORS)
def review_release(set_id: str) -> Response:
    service = review()
    photo_set = service.get_set(set_id)
    try:
        service.release(current_user.user, photo_set)
    except InvalidTransition as exc:
        get_session().rollback()
        flash(refusal(exc, photo_set), "error")
    else:
        get_session().commit()
        flash(_("Released: the set is back in the queue."), "success")
    return redirect(url_for("operate.review_queue"))


def refusal(exc: Exception, photo_set: PhotoSet) -> str:
    """Why a claim, release or decision was refused, in the operator's language (the service speaks English)."""
    me = current_user.user.id
    if isinstance(exc, ConsentRequired) and exc.detail.get("reason") == "suspended":
        return _("Processing of this set is suspended at the contributor's request: it cannot be reviewed now.")
    if isinstance(exc, ConsentRequired):
        return _("The contributor withdrew consent: this set can no longer be reviewed.")
    if photo_set.claimed_by and photo_set.claimed_by != me:
        name = user_names([photo_set.claimed_by])[photo_set.claimed_by]
        return _("%(name)s is already reviewing this set.", name=name)
    if photo_set.state is SetState.AWAITING_SECOND_REVIEW and photo_set.first_reviewer_id == me:
        return _("You did the first review of this set: the second review must be done by a different operator.")
    if photo_set.state in (SetState.IN_REVIEW, SetState.AWAITING_SECOND_REVIEW, SetState.SUBMITTED):
        if photo_set.claimed_by != me:
            return _("Claim the set before deciding on it.")
        return _("Decide on every photo of the set.")
    state = set_state_labels().get(photo_set.state.value, photo_set.state.value)
    return _("This set is not waiting for review (it is %(state)s).", state=state)


# --- the review page ---------------------------------------------------------------------------------------


@bp.get("/review/sets/<set_id>")
@allow(*OPERATORS)
def review_set(set_id: str) -> str:
    photo_set = review().get_set(set_id)
    campaign = get_session().get(Campaign, photo_set.campaign_id)
    return set_page(photo_set, campaign, set_decision_form(ordered_photos(photo_set, campaign)))


@bp.post("/review/sets/<set_id>/decide")
@allow(*OPERATORS)
def review_decide(set_id: str) -> Response | tuple[str, int]:
    service = review()
    photo_set = service.get_set(set_id)
    campaign = get_session().get(Campaign, photo_set.campaign_id)
    if campaign is None:
        raise NotFound("campaign", photo_set.campaign_id)
    form = set_decision_form(ordered_photos(photo_set, campaign))
    if not form.validate_on_submit():
        flash(_("Some photos need a decision, a reason or a comment: they are marked below."), "error")
        return set_page(photo_set, campaign, form), 400
    second = photo_set.state is SetState.AWAITING_SECOND_REVIEW
    try:
        state = service.decide(current_user.user, photo_set, form.verdicts(every_photo=second), campaign)
    except (InvalidTransition, ConsentRequired) as exc:
        get_session().rollback()  # nothing of a refused decision is kept
        flash(refusal(exc, photo_set), "error")
        return set_page(photo_set, campaign, form), 409
    get_session().commit()
    flash(outcome_message(state), "success")
    return redirect(url_for("operate.review_queue"))


def outcome_message(state: SetState) -> str:
    if state is SetState.ACCEPTED:
        return _("The set is accepted and its payment is in the ledger.")
    if state is SetState.AWAITING_SECOND_REVIEW:
        return _("Accepted. The campaign needs a second review: another operator will check the set.")
    return _("Changes requested: the contributor will see the reasons and can replace the rejected photos.")


def set_page(photo_set: PhotoSet, campaign: Campaign | None, form: SetDecisionForm) -> str:
    service = review()
    history = service.history(photo_set)
    photos = ordered_photos(photo_set, campaign)
    cards = photo_cards(photo_set, photos, history)
    numbers = {c.photo.id: c.number for c in cards}
    appeals = service.appeals_of(photo_set)
    erased = service.erased(photo_set)
    matrix = identity_matrix(photo_set, numbers)
    verdicts = {c.photo.id: str((c.photo.identity or {}).get("verdict")) for c in cards if c.photo.identity}
    me = current_user.user.id
    staff = [photo_set.claimed_by, photo_set.first_reviewer_id] + [d.reviewer_id for d in history]
    return render_template(
        "operate/review/set.html",
        photo_set=photo_set,
        campaign=campaign,
        cards=cards,
        changed=[c for c in cards if c.changed],
        numbers=numbers,
        matrix=matrix,
        headline=identity_headline(verdicts, numbers, matrix.consistent) if matrix else None,
        rounds=rounds_of(history),
        appeals=appeals,
        erased=erased,
        # the contributor's other ledger entries in this campaign (paid, erased on withdrawal, joined anew)
        paid_elsewhere=[] if erased else payments().other_entries_in_campaign(photo_set),
        form=form,
        field_name=field_name,
        mine=photo_set.claimed_by == me,
        me=me,
        names=user_names(staff + ([r.reviewer_id for r in erased.rounds] if erased else [])),
        state_labels=set_state_labels(),
        photo_states=photo_state_labels(),
        gate_names=gate_labels(),
        gate_reason=lambda gate, reason, review=False: gate_advice(gate, reason, review).text,
        reason_label=reason_label,
        reasons=REASON_LABELS,
        tolerance=SAME_PERSON_TOLERANCE,
        evidence=evidence,
        identity_label=identity_verdict_label,
        identity_explanation=identity_explanation,
        compared_with=lambda photo: comparison_text(
            comparison(photo.id, photo.identity, photo_set.identity, numbers)),
    )


def rounds_of(history: Sequence[PhotoDecision]) -> list[tuple[int, list[PhotoDecision]]]:
    """The decision history grouped by review round, latest round first."""
    rounds: dict[int, list[PhotoDecision]] = {}
    for decision in history:
        rounds.setdefault(decision.round, []).append(decision)
    return sorted(rounds.items(), reverse=True)


# --- the photo itself --------------------------------------------------------------------------------------


@bp.get("/review/photos/<photo_id>")
@allow(*OPERATORS)
def review_photo(photo_id: str) -> Response:
    size = "thumb" if request.args.get("size") == "thumb" else "full"
    photo = review().view_photo(current_user.user, photo_id, size)
    try:
        data = uploads().read_photo(photo, thumb=size == "thumb")
    except (BlobNotFound, CryptoError) as exc:  # erased (key destroyed) or blob gone: there is nothing to show
        get_session().rollback()
        raise NotFound("photo", photo_id) from exc
    get_session().commit()  # the view is on the record before a byte leaves
    resp = Response(data, mimetype="image/jpeg")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Content-Disposition"] = "inline"
    return resp


# --- appeals -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppealRow:
    appeal: Appeal
    decision: PhotoDecision | None
    photo: Photo | None
    campaign: Campaign | None
    overdue: bool
    mine: bool  # the operator looking made the decision under appeal, so may not decide the appeal


@bp.get("/review/appeals")
@allow(*OPERATORS)
def review_appeals() -> str:
    return appeals_page(None)


@bp.post("/review/appeals/<appeal_id>/decide")
@allow(*OPERATORS)
def review_appeal_decide(appeal_id: str) -> Response | tuple[str, int]:
    service = review()
    appeal = service.get_appeal(appeal_id)
    form = appeal_form(appeal.id, submitted=True)
    if not form.validate_on_submit():
        return appeals_page((appeal.id, form)), 400
    try:
        service.decide_appeal(current_user.user, appeal, form.outcome.data == "overturn", form.answer.data or "")
    except (InvalidTransition, ConsentRequired) as exc:
        get_session().rollback()
        flash(appeal_refusal(appeal, exc), "error")
        return appeals_page(None), 409
    get_session().commit()
    overturned = form.outcome.data == "overturn"
    flash(_("Appeal overturned: the photo is accepted.") if overturned else _("Appeal upheld."), "success")
    return redirect(url_for("operate.review_appeals"))


def appeal_refusal(appeal: Appeal, exc: Exception) -> str:
    if isinstance(exc, ConsentRequired) and exc.detail.get("reason") == "suspended":
        return _(
            "Processing of this set is suspended at the contributor's request: the appeal cannot be decided "
            "until the suspension is lifted."
        )
    if isinstance(exc, ConsentRequired):
        return _("The contributor withdrew consent: this appeal can no longer be decided and the photo is not used.")
    decision = get_session().get(PhotoDecision, appeal.decision_id)
    if decision is not None and decision.reviewer_id == current_user.user.id:
        return _("You made the decision under appeal: an operator other than the first reviewer decides it.")
    return _("This appeal is already decided.")


def appeals_page(failed: tuple[str, AppealDecisionForm] | None) -> str:
    """The open appeals, most urgent first; `failed` is a posted form to show again with its errors."""
    session = get_session()
    now = clock().now()
    rows = []
    for appeal in review().open_appeals():
        decision = session.get(PhotoDecision, appeal.decision_id)
        photo = session.get(Photo, appeal.photo_id)
        rows.append(
            AppealRow(
                appeal,
                decision,
                photo,
                session.get(Campaign, photo.campaign_id) if photo else None,
                appeal.due_at < now,
                decision is not None and decision.reviewer_id == current_user.user.id,
            )
        )
    forms = {r.appeal.id: appeal_form(r.appeal.id) for r in rows}
    if failed is not None and failed[0] in forms:
        forms[failed[0]] = failed[1]
    return render_template(
        "operate/review/appeals.html",
        rows=rows,
        forms=forms,
        names=user_names([r.decision.reviewer_id for r in rows if r.decision]),
        reason_label=reason_label,
        now=now,
        days_left=days_until,  # calendar days, as rights requests count them (9 on the day a 9-day appeal is filed)
    )
