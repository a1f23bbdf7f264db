"""JSON endpoints of the contributor's set (the set page's JavaScript uses them; so can any client with the
session cookie and the X-CSRFToken header): the set's status with gate results in plain words, one photo
upload per request, removal, asking a person to check a failed photo, a voice recording, and submitting.

Refusals come back as {"error": code, "reason": ..., "message": what is wrong, "advice": what to do}, in the
contributor's language; documented in webapp/openapi.json.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask_login import current_user

from collection.accounts import Role
from collection.campaigns import Campaign
from collection.errors import ContributionError, NotEligible
from webapp.access import allow
from webapp.blueprints.api.views import bp
from webapp.blueprints.contribute.set_forms import ApiPhotoForm, NoteForm, VoiceUploadForm, api_form
from webapp.blueprints.contribute.set_status import (
    ReviewFacts,
    campaign_of,
    clip_json,
    photo_json,
    refusal,
    require_voice_consent,
    set_status,
)
from webapp.db import get_session
from webapp.services import campaigns, contributions, uploads

CONTRIBUTOR = Role.CONTRIBUTOR
STATUS = {
    "not_eligible": 409,
    "consent_required": 409,
    "upload_refused": 422,
    "duplicate_photo": 409,
    "set_not_ready": 409,
    "invalid_transition": 409,
}


def _refused(err: ContributionError, campaign: Campaign | None) -> tuple[Response, int]:
    get_session().rollback()
    words = refusal(err, campaign)
    body: dict[str, Any] = {
        "error": err.code,
        "reason": err.detail.get("reason"),
        "message": words.text,
        "advice": words.advice,
    }
    if err.code == "set_not_ready":
        body["missing"] = list(err.detail.get("missing", []))  # type: ignore[call-overload]
    if err.code == "duplicate_photo":
        body["photo_id"], body["bracket"] = err.detail.get("photo_id"), err.detail.get("bracket")
    status = 413 if err.detail.get("reason") in ("too_large", "TooLarge") else STATUS.get(err.code, 409)
    return jsonify(body), status


def _invalid(form: Any) -> tuple[Response, int]:
    errors = {name: [str(e) for e in errs] for name, errs in form.errors.items()}
    first = next(iter(errors.values()), [""])[0]
    return jsonify(error="invalid", message=first, fields=errors), 400


def _load_set(slug: str) -> tuple[Campaign, Any]:
    campaign = campaigns().by_slug(slug)
    return campaign, contributions().photo_set(current_user.user, campaign)


@bp.get("/campaigns/<slug>/set")
@allow(CONTRIBUTOR)
def contribution_set(slug: str) -> Response | tuple[Response, int]:
    try:
        campaign, photo_set = _load_set(slug)
    except NotEligible as exc:
        return _refused(exc, None)
    return jsonify(set_status(campaign, photo_set))


@bp.post("/campaigns/<slug>/set/photos")
@allow(CONTRIBUTOR)
def upload_photo(slug: str) -> tuple[Response, int]:
    form = api_form(ApiPhotoForm)
    if not form.validate():
        return _invalid(form)
    campaign = campaigns().by_slug(slug)
    try:
        photo = uploads().add_photo(
            current_user.user,
            campaign,
            form.bracket.data,
            form.file.data.read(),
            form.age_years.data,
            replaces=form.replaces.data or None,
        )
    except ContributionError as exc:
        return _refused(exc, campaign)
    get_session().commit()  # the gate job is dispatched after this commit
    get_session().refresh(photo)
    return jsonify(photo=photo_json(photo, photo.photo_set.editable, ReviewFacts(photo.photo_set))), 201


@bp.delete("/photos/<photo_id>")
@allow(CONTRIBUTOR)
def delete_photo(photo_id: str) -> Response | tuple[Response, int]:
    photo = contributions().photo(current_user.user, photo_id)
    campaign = campaign_of(photo)
    try:
        uploads().delete_photo(current_user.user, photo)
    except ContributionError as exc:
        return _refused(exc, campaign)
    get_session().commit()
    return jsonify(deleted=photo_id)


@bp.post("/photos/<photo_id>/review")
@allow(CONTRIBUTOR)
def request_review(photo_id: str) -> Response | tuple[Response, int]:
    photo = contributions().photo(current_user.user, photo_id)
    form = api_form(NoteForm)
    if not form.validate():
        return _invalid(form)
    try:
        uploads().request_review(current_user.user, photo, form.note.data)
    except ContributionError as exc:
        return _refused(exc, campaign_of(photo))
    get_session().commit()
    return jsonify(photo=photo_json(photo, photo.photo_set.editable, ReviewFacts(photo.photo_set)))


@bp.post("/campaigns/<slug>/set/voice/<prompt_key>")
@allow(CONTRIBUTOR)
def upload_voice(slug: str, prompt_key: str) -> tuple[Response, int]:
    form = api_form(VoiceUploadForm)
    if not form.validate():
        return _invalid(form)
    campaign = campaigns().by_slug(slug)
    try:
        require_voice_consent(campaign)
        clip = uploads().add_voice(current_user.user, campaign, prompt_key, form.audio.data.read())
    except ContributionError as exc:
        return _refused(exc, campaign)
    get_session().commit()
    get_session().refresh(clip)
    return jsonify(clip=clip_json(clip, clip.photo_set.editable)), 201


@bp.post("/campaigns/<slug>/set/submit")
@allow(CONTRIBUTOR)
def submit_set(slug: str) -> Response | tuple[Response, int]:
    campaign = campaigns().by_slug(slug)
    try:
        photo_set = contributions().submit(current_user.user, campaign)
    except ContributionError as exc:
        return _refused(exc, campaign)
    get_session().commit()
    return jsonify(set_status(campaign, photo_set))
