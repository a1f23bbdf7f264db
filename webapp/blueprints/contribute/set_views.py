"""The contributor's set pages: joining a campaign, the set page (one slot group per age bracket, uploads,
gate results in plain words, remove / replace / ask a person, voice prompts, submit), the status after
submission (review, changes requested with reasons and appeals, accepted, paid), decrypted thumbnails and
recordings for their owner only, and the data export.

Every page works without JavaScript (plain forms that redirect back); webapp/static/js/upload.js and voice.js
add per-file progress, recording in the browser and live gate results through the JSON API
(webapp/blueprints/api/contribute_api.py); both show the shapes built in set_status.py.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO, Any

from flask import Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from collection.accounts import Role, User
from collection.campaigns import Campaign
from collection.contributions.export import DataExport
from collection.contributions.models import Photo, PhotoSet, SetState
from collection.errors import ConsentRequired, ContributionError, CryptoError, NotEligible, NotFound, StorageError
from collection.payments.models import LedgerEntry
from webapp.access import allow
from webapp.blueprints.contribute.set_forms import (
    ActionForm,
    AppealForm,
    NoteForm,
    PhotoUploadForm,
    ReplaceForm,
    VoiceUploadForm,
)
from webapp.blueprints.contribute.set_status import (
    campaign_of,
    owned_clip,
    refusal,
    require_voice_consent,
    set_status,
    voice_withdrawn,
)
from webapp.blueprints.contribute.views import bp
from webapp.db import get_session
from webapp.gate_messages import photo_state_label, set_state_label
from webapp.services import audit, campaigns, clock, consent, contributions, payments, review, settings, uploads

CONTRIBUTOR = Role.CONTRIBUTOR
NO_STORE = {"Cache-Control": "no-store, private", "X-Content-Type-Options": "nosniff"}


# --- joining ---------------------------------------------------------------------------------------------------
@bp.post("/campaigns/<slug>/join")
@allow(CONTRIBUTOR)
def join(slug: str) -> Response | tuple[str, int]:
    campaign = campaigns().by_slug(slug)
    if not ActionForm().validate_on_submit():
        return redirect(url_for("public.campaign", slug=slug))  # type: ignore[return-value]
    try:
        contributions().enroll(current_user.user, campaign)
    except ConsentRequired:
        # signing the consent is joining (consent_views._join_if_possible): the receipt leads straight to the set
        flash(_("Read and sign the consent document. Signing it also joins you to this campaign: your photo set "
                "opens right after."), "warning")
        return redirect(url_for("contribute.consent_sign", slug=slug))  # type: ignore[return-value]
    except NotEligible as exc:
        from webapp.blueprints.public.campaign_views import campaign_page

        return campaign_page(campaign, refusal(exc, campaign)), 409
    get_session().commit()
    return redirect(url_for("contribute.set_page", slug=slug))  # type: ignore[return-value]


# --- the set page ----------------------------------------------------------------------------------------------
def _set_page(campaign: Campaign, photo_set: PhotoSet, **forms: Any) -> str:
    status = set_status(campaign, photo_set)
    service, subject_id = consent(), current_user.user.subject_id
    withdrawn = _withdrawn(photo_set, subject_id)
    return render_template(
        "contribute/set/page.html",
        campaign=campaign,
        photo_set=photo_set,
        status=status,
        upload_forms=forms.get("upload_forms", {}),
        submit_problem=forms.get("submit_problem"),
        voice_form=forms.get("voice_form"),
        voice_key=forms.get("voice_key"),
        blank_photo=_blank_photo(),
        action_form=ActionForm(),
        rules=_rules_summary(campaign),
        needs_reconsent=service.needs_reconsent(subject_id, campaign.id),
        withdrawn=withdrawn,
        payment=_payment_of(photo_set) if withdrawn else None,
        voice_withdrawn=bool(campaign.voice_prompts) and voice_withdrawn(campaign),
        may_upload=service.may_upload(subject_id, campaign.id),
    )


def _payment_of(photo_set: PhotoSet) -> LedgerEntry | None:
    """The payment for this set, made or due: it stays true after the set's data was erased."""
    return next((e for e in payments().earnings(current_user.user).entries if e.set_id == photo_set.id), None)


def _withdrawn(photo_set: PhotoSet, subject_id: str) -> bool:
    """The set was erased on a withdrawal, or the required consents are withdrawn: nothing more can be uploaded."""
    return photo_set.state is SetState.WITHDRAWN or not consent().holds_required(subject_id, photo_set.campaign_id)


def _blank_photo() -> dict[str, Any]:
    """The skeleton a new card is cloned from in the browser (ids filled in by upload.js)."""
    return {
        "id": "__ID__",
        "bracket": "",
        "state": "checking",
        "state_label": photo_state_label("checking"),
        "age_label": "",
        "thumb_url": "",
        "notes": [],
        "your_note": None,
        "appeal": None,
        "actions": {"delete": True, "replace": True, "request_review": True, "appeal": False},
    }


def _rules_summary(campaign: Campaign) -> dict[str, Any]:
    rules = campaign.photo_rules or {}
    campaign_mb = int(rules.get("max_bytes", 30 * 1024 * 1024)) // (1024 * 1024)
    return {"max_mb": min(campaign_mb, settings().max_upload_mb)}  # the request limit applies first


def _load_set(slug: str) -> tuple[Campaign, PhotoSet]:
    campaign = campaigns().by_slug(slug)
    return campaign, contributions().photo_set(current_user.user, campaign)


@bp.get("/campaigns/<slug>/set")
@allow(CONTRIBUTOR)
def set_page(slug: str) -> Response | str:
    try:
        campaign, photo_set = _load_set(slug)
    except NotEligible:
        flash(_("You have not joined this campaign yet."), "warning")
        return redirect(url_for("public.campaign", slug=slug))  # type: ignore[return-value]
    return _set_page(campaign, photo_set)


def _flash_refusal(err: ContributionError, campaign: Campaign, filename: str | None = None) -> None:
    words = refusal(err, campaign)
    prefix = f"{filename}: " if filename else ""
    flash(f"{prefix}{words.text} {words.advice}".strip(), "error")


@bp.post("/campaigns/<slug>/set/photos")
@allow(CONTRIBUTOR)
def upload_photos(slug: str) -> Response | tuple[str, int]:
    campaign, photo_set = _load_set(slug)
    form = PhotoUploadForm()
    if not form.validate_on_submit():
        return _set_page(campaign, photo_set, upload_forms={form.bracket.data: form}), 400
    stored = 0
    for upload in form.photos.data:
        try:
            uploads().add_photo(current_user.user, campaign, form.bracket.data, upload.read(), form.age_years.data)
        except ContributionError as exc:
            get_session().rollback()
            _flash_refusal(exc, campaign, upload.filename)
        else:
            get_session().commit()  # each accepted photo is kept, whatever happens to the next one
            get_session().expire_all()  # the next file is checked against this one (duplicates, bracket count)
            stored += 1
    if stored:
        flash(_("%(n)d photo(s) uploaded. The checks run now; results appear on each photo.", n=stored), "success")
    return redirect(url_for("contribute.set_page", slug=slug, _anchor=f"bracket-{form.bracket.data}"))  # type: ignore[return-value]


def _own_photo(photo_id: str) -> tuple[Photo, Campaign]:
    photo = contributions().photo(current_user.user, photo_id)
    return photo, campaign_of(photo)


def _back(campaign: Campaign, anchor: str | None = None) -> Response:
    return redirect(url_for("contribute.set_page", slug=campaign.slug, _anchor=anchor))  # type: ignore[return-value]


@bp.post("/photos/<photo_id>/replace")
@allow(CONTRIBUTOR)
def replace_photo(photo_id: str) -> Response:
    photo, campaign = _own_photo(photo_id)
    form = ReplaceForm()
    if not form.validate_on_submit():
        flash(" ".join(str(e) for e in form.photo.errors or form.age_years.errors or [_("Choose a photo.")]), "error")
        return _back(campaign, f"photo-{photo.id}")
    try:
        new = uploads().add_photo(
            current_user.user, campaign, photo.bracket, form.photo.data.read(), form.age_years.data, replaces=photo.id
        )
    except ContributionError as exc:
        get_session().rollback()
        _flash_refusal(exc, campaign, form.photo.data.filename)
        return _back(campaign, f"photo-{photo_id}")
    get_session().commit()
    flash(_("Photo replaced. The checks run now."), "success")
    return _back(campaign, f"photo-{new.id}")


@bp.post("/photos/<photo_id>/delete")
@allow(CONTRIBUTOR)
def delete_photo(photo_id: str) -> Response:
    photo, campaign = _own_photo(photo_id)
    if ActionForm().validate_on_submit():
        try:
            uploads().delete_photo(current_user.user, photo)
        except ContributionError as exc:
            _flash_refusal(exc, campaign)
        else:
            get_session().commit()
            flash(_("Photo removed."), "success")
    return _back(campaign, f"bracket-{photo.bracket}")


@bp.post("/photos/<photo_id>/review")
@allow(CONTRIBUTOR)
def request_review(photo_id: str) -> Response:
    photo, campaign = _own_photo(photo_id)
    form = NoteForm()
    if not form.validate_on_submit():
        flash(" ".join(str(e) for e in form.note.errors), "error")
        return _back(campaign, f"photo-{photo.id}")
    try:
        uploads().request_review(current_user.user, photo, form.note.data)
    except ContributionError as exc:
        _flash_refusal(exc, campaign)
    else:
        get_session().commit()
        flash(_("Thank you. A person will check this photo; it no longer blocks your set."), "success")
    return _back(campaign, f"photo-{photo.id}")


@bp.post("/photos/<photo_id>/appeal")
@allow(CONTRIBUTOR)
def appeal(photo_id: str) -> Response:
    photo, campaign = _own_photo(photo_id)
    form = AppealForm()
    if not form.validate_on_submit():
        flash(" ".join(str(e) for e in form.note.errors), "error")
        return _back(campaign, f"photo-{photo.id}")
    try:
        review().appeal(current_user.user, photo, form.note.data)
    except ConsentRequired as exc:  # suspended at their request, or consent withdrawn: say which
        _flash_refusal(exc, campaign)
    except ContributionError:
        flash(_("This decision can no longer be appealed: appeals are possible once, within 7 days."), "error")
    else:
        get_session().commit()
        flash(_("Your appeal is recorded. A different reviewer will decide within 9 days."), "success")
    return _back(campaign, f"photo-{photo.id}")


@bp.get("/photos/<photo_id>/thumb")
@allow(CONTRIBUTOR)
def photo_thumb(photo_id: str) -> Response:
    """The decrypted thumbnail, for its owner only (anyone else gets 404), never cached."""
    photo = contributions().photo(current_user.user, photo_id)
    try:
        data = uploads().read_photo(photo, thumb=True)
    except (CryptoError, StorageError) as exc:
        raise NotFound("photo", photo_id) from exc
    return Response(data, mimetype="image/jpeg", headers=NO_STORE)


# --- voice -----------------------------------------------------------------------------------------------------
@bp.post("/campaigns/<slug>/set/voice/<prompt_key>")
@allow(CONTRIBUTOR)
def upload_voice(slug: str, prompt_key: str) -> Response | tuple[str, int]:
    campaign, photo_set = _load_set(slug)
    form = VoiceUploadForm()
    if not form.validate_on_submit():
        return _set_page(campaign, photo_set, voice_form=form, voice_key=prompt_key), 400
    try:
        require_voice_consent(campaign)
        uploads().add_voice(current_user.user, campaign, prompt_key, form.audio.data.read())
    except ContributionError as exc:
        get_session().rollback()
        _flash_refusal(exc, campaign, form.audio.data.filename)
    else:
        get_session().commit()
        flash(_("Recording uploaded. The checks run now."), "success")
    return _back(campaign, f"voice-{prompt_key}")


@bp.get("/voice/<clip_id>/audio")
@allow(CONTRIBUTOR)
def voice_audio(clip_id: str) -> Response:
    clip = owned_clip(clip_id)
    try:
        data = uploads().read_voice(clip)
    except (CryptoError, StorageError) as exc:
        raise NotFound("voice_clip", clip_id) from exc
    return Response(data, mimetype="audio/wav", headers=NO_STORE)


# --- submitting ------------------------------------------------------------------------------------------------
@bp.post("/campaigns/<slug>/set/submit")
@allow(CONTRIBUTOR)
def submit_set(slug: str) -> Response | tuple[str, int]:
    campaign, photo_set = _load_set(slug)
    if not ActionForm().validate_on_submit():
        return _back(campaign)
    try:
        contributions().submit(current_user.user, campaign)
    except ContributionError as exc:
        return _set_page(campaign, photo_set, submit_problem=refusal(exc, campaign)), 409
    get_session().commit()
    flash(_("Your set is sent for review. We will let you know the result here."), "success")
    return _back(campaign)


# --- the data export -------------------------------------------------------------------------------------------
@bp.get("/data")
@allow(CONTRIBUTOR)
def export_page() -> str:
    joined = [get_session().get(Campaign, s.campaign_id) for s in contributions().sets_of(current_user.user)]
    voice = any(c is not None and c.has_voice for c in joined)  # the warning names only what was collected
    return render_template("contribute/set/export.html", form=ActionForm(), joined=bool(joined), voice=voice)


@bp.post("/data/export.zip")
@allow(CONTRIBUTOR)
def export_download() -> Response:
    if not ActionForm().validate_on_submit():
        return redirect(url_for("contribute.export_page"))  # type: ignore[return-value]
    user: User = current_user.user
    # An unnamed temporary file: bounded memory while writing, and nothing left on disk once it is sent.
    out = tempfile.TemporaryFile(prefix="datadam-export-")
    DataExport(get_session(), clock(), uploads(), consent(), audit()).write(user, out)
    get_session().commit()
    size = out.tell()
    out.seek(0)
    name = f"datadam-{user.subject_id}-{clock().now():%Y%m%d}.zip"
    headers = {**NO_STORE, "Content-Length": str(size), "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(_chunks(out), mimetype="application/zip", headers=headers)


def _chunks(out: IO[bytes], size: int = 256 * 1024) -> Iterator[bytes]:
    """Stream the file and close it however the response ends (sent, aborted, or dropped unread)."""
    try:
        while chunk := out.read(size):
            yield chunk
    finally:
        out.close()


# --- the dashboard's overview ----------------------------------------------------------------------------------
@bp.context_processor
def _overview_helper() -> dict[str, Any]:
    """`contributor_overview()` for the contributor's templates (the dashboard): computed only when called."""

    def contributor_overview() -> dict[str, Any]:
        user = current_user.user
        rows = []
        for photo_set in contributions().sets_of(user):
            campaign = get_session().get(Campaign, photo_set.campaign_id)
            rows.append({"campaign": campaign, "set": photo_set, "state_label": set_state_label(photo_set.state.value),
                         "withdrawn": _withdrawn(photo_set, user.subject_id)})
        service = payments()
        earnings = service.earnings(user)
        paid_for = [{"entry": e, "campaign": get_session().get(Campaign, e.campaign_id)} for e in earnings.entries]
        account = service.payout_account(user)
        return {"sets": rows, "earnings": earnings, "payments": paid_for, "payout_account": account}

    return {"contributor_overview": contributor_overview}
