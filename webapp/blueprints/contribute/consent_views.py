"""The contributor's consent pages: read and sign a campaign's notice (or re-consent to a new version), see
and download every receipt, and withdraw per matter or all at once.

Giving consent is two steps (load the campaign's consent page, post the form); withdrawing is the same two
(load "my consents" or the campaign's consent page, post the withdraw form) - never harder than giving.
The notice is shown exactly as `consent.notice.notice_sections` renders it, so the SHA-256 in the receipt
is the hash of what the contributor read, in the language they read it in.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from collection.accounts import Role, User
from collection.campaigns import Campaign, CampaignStatus
from collection.campaigns.notice_template import facts_changed
from collection.contributions.models import EnrollmentState
from collection.contributions.withdrawal import withdraw_consent, withdrawal_erases
from collection.errors import ContributionError, NotEligible
from consent.errors import ConsentStateError, ReceiptBuildError
from consent.models import ConsentRecord, NoticeVersion
from consent.notice import MatterKind, Notice, notice_sections
from consent.receipts import GuardianRelationship, receipt_facts
from consent.service import ConsentService, Guardian, Signing
from webapp.access import allow
from webapp.blueprints.contribute.consent_forms import (
    NO,
    YES,
    SignFormBase,
    WithdrawForm,
    matter_field,
    sign_form,
)
from webapp.blueprints.contribute.views import bp
from webapp.blueprints.operate.consent_forms import matter_name
from webapp.blueprints.public.consent_views import KEYS_PATH, receipt_standing
from webapp.db import get_session
from webapp.services import clock, consent, contributions, erasure, hash_ip

GUARDIAN_AGE = 14  # PIPA Art. 22-2: under 14, a legal representative consents


# --- loading and state -------------------------------------------------------------------------------------


def _campaign_or_404(slug: str) -> Campaign:
    campaign = get_session().scalar(select(Campaign).where(Campaign.slug == slug))
    if campaign is None:
        abort(404)
    return campaign


def _own_record_or_404(service: ConsentService, receipt_id: str) -> ConsentRecord:
    record = service.record(receipt_id)
    if record is None or record.subject_id != current_user.user.subject_id:
        abort(404)  # someone else's receipt does not exist, as far as this person can tell
    return record


def _age(user: User) -> int | None:
    return user.age_on(clock().now().date())


def _ineligible_reason(campaign: Campaign, user: User, version: NoticeVersion, anew: bool) -> str | None:
    """Why `user` cannot sign `version` now, or None. Age only gates taking part anew (`anew`: a first consent, or
    joining again after one's data was erased): someone taking part can renew their consent to a new version even
    if they have since aged out of the campaign's range."""
    if campaign.status is not CampaignStatus.OPEN:
        return _("This campaign is not taking consents: it is not open.")
    if facts_changed(version.written_for, campaign):
        # the document would promise other counts, payment or periods than the campaign now has
        return _("The campaign's settings changed after its consent document was published, and the updated "
                 "document is not out yet. Please come back later.")
    if not anew:
        return None
    age = _age(user)
    if age is None:
        return _("Your account has no birth date, so we cannot check the campaign's age range.")
    if not campaign.accepts_age(age):
        return _("This campaign is for people aged %(lo)d to %(hi)d.", lo=campaign.min_age, hi=campaign.max_age)
    return None


def _in_force_matters(service: ConsentService, subject_id: str, campaign_id: str) -> list[str]:
    latest = service.latest_record(subject_id, campaign_id)
    return [m for m, on in latest.decisions.items() if on] if latest else []


def _notice_of(record: ConsentRecord) -> Notice | None:
    version = get_session().get(NoticeVersion, record.notice_version_id)
    return version.notice if version else None


def _changed_sections(old: Notice | None, new: Notice, lang: str) -> list[str]:
    """Headings of the sections of `new` that differ from `old` as shown in `lang` (for the re-consent page)."""
    before = {s.key: (s.heading, s.body) for s in notice_sections(old, lang)} if old else {}
    after = notice_sections(new, lang)
    changed = [s.heading for s in after if s.key != "title" and before.get(s.key) != (s.heading, s.body)]
    removed = [heading for key, (heading, _body) in before.items() if key not in {s.key for s in after}]
    return changed + removed


# --- signing -----------------------------------------------------------------------------------------------


@bp.route("/campaigns/<slug>/consent", methods=["GET", "POST"])
@allow(Role.CONTRIBUTOR)
def consent_sign(slug: str) -> Response | tuple[str, int] | str:
    campaign = _campaign_or_404(slug)
    user, service = current_user.user, consent()
    version = service.current_version(campaign.id)
    latest = service.latest_record(user.subject_id, campaign.id)
    holds = latest is not None and service.holds_required(user.subject_id, campaign.id)
    in_force = set(_in_force_matters(service, user.subject_id, campaign.id))
    enrollment = contributions().enrollment(user, campaign)
    erased = enrollment is not None and enrollment.state is EnrollmentState.ERASED  # taking part anew: sign again
    current = holds and latest is not None and version is not None and latest.notice_version_id == version.id \
        and not erased
    # Someone whose consent is in force may still agree to optional uses they declined or withdrew: the same form,
    # their present choices filled in, signed again (a "reconsented" event). Otherwise there is nothing to sign.
    adding = current and version is not None and not in_force >= {m.id for m in version.notice.matters} and (
        request.method == "POST" or request.args.get("change") == "optional")
    if request.method == "POST" and request.args.get("change") == "optional" and not current:
        # a form for adding uses to a consent that has since ended (withdrawn in another tab): it is not a new
        # signature, which would take part anew without the page that says what that means
        flash(_("Your consent changed since this page was opened. Read the page again before signing."), "warning")
        return redirect(url_for("contribute.consent_sign", slug=campaign.slug))
    if version is None or (current and not adding):
        if current and request.method == "POST" and request.args.get("change") == "optional":
            # a form from before everything was agreed to (another tab): say so rather than drop it silently
            flash(_("You already agree to every use, so nothing changed. To withdraw one, use “Withdraw consent” "
                    "below."), "warning")
        return _sign_page(campaign, version, None, latest, None)  # nothing to sign: status (and withdraw)
    reason = _ineligible_reason(campaign, user, version, anew=latest is None or erased)
    if reason is not None:
        return _sign_page(campaign, version, None, latest, reason), 200 if request.method == "GET" else 409
    age = _age(user)
    under_14 = age is None or age < GUARDIAN_AGE  # an unknown age is treated as a child's: the safe side
    notice = version.notice
    present = {matter_field(m): YES if m.id in in_force else NO for m in notice.matters} if adding else {}
    form = sign_form(notice.matters, under_14, {"version": version.number, "language": str(get_locale()), **present})
    valid = form.validate_on_submit()
    kept = not adding or not form.is_submitted() or _keeps_in_force(form, notice, in_force)
    if not valid or not kept:
        return _sign_page(campaign, version, form, latest, None), 400 if form.is_submitted() else 200
    if form.version.data != version.number:
        form.form_errors.append(
            _("A new version of the document was published while you were reading. Read it and sign again.")
        )
        form.version.data, form.language.data = version.number, str(get_locale())
        return _sign_page(campaign, version, form, latest, None), 409
    try:
        record = service.give(user.subject_id, version, _signing(form, notice, under_14))
    except ReceiptBuildError as exc:
        _place_build_error(form, notice, exc)
        return _sign_page(campaign, version, form, latest, None), 400
    except ConsentStateError:
        abort(409)
    get_session().commit()
    _join_if_possible(user, campaign)
    flash(_("Thank you. Your consent is recorded and signed; keep the receipt below."), "success")
    return redirect(url_for("contribute.consent_receipt", receipt_id=record.id))


def _keeps_in_force(form: SignFormBase, notice: Notice, in_force: set[str]) -> bool:
    """Agreeing to more uses never withdraws one in force: that goes through the withdrawal (its audit, the
    releases' withdrawal lists, erasing recordings), so a "no" here is refused next to the matter."""
    ok = True
    for matter in notice.matters:
        field = form[matter_field(matter)]
        if matter.id in in_force and field.data != YES:  # this, not "needed to take part", is what applies
            field.errors = [_("You agreed to this already. To withdraw it, use “Withdraw consent” below.")]
            ok = False
    return ok


def _join_if_possible(user: User, campaign: Campaign) -> None:
    """Signing the consent of a campaign one may join is joining it: the receipt's way on leads to the photo set,
    not back to a "join" button. A refusal (not eligible, withdrawn before) leaves it to the campaign page to say."""
    try:
        contributions().enroll(user, campaign)
    except ContributionError:
        get_session().rollback()
    else:
        get_session().commit()


def _signing(form: SignFormBase, notice: Notice, under_14: bool) -> Signing:
    guardian = None
    if under_14:
        relationship = GuardianRelationship(form.guardian_relationship.data)
        guardian = Guardian(form.guardian_name.data.strip(), relationship, form.guardian_signature.data.strip())
    return Signing(
        decisions=form.decisions(notice.matters),
        language=form.language.data,
        signature=form.signature.data.strip(),
        under_14=under_14,
        guardian=guardian,
        ip_hash=hash_ip(request.remote_addr or ""),
    )


def _place_build_error(form: SignFormBase, notice: Notice, exc: ReceiptBuildError) -> None:
    """Map the service's refusal back onto the fields it is about."""
    if exc.field == "decisions":
        for matter in notice.matters:
            field = form[matter_field(matter)]
            if matter.required and field.data != YES:
                field.errors = [
                    *field.errors,
                    _("This consent is needed to take part. Choose “I agree”, or do not take part."),
                ]
    elif exc.field.startswith("guardian"):
        form.guardian_name.errors = [*form.guardian_name.errors, _("Needed because you are under 14.")]
    else:
        form.form_errors.append(_("Your consent could not be recorded. Please try again."))


def _sign_page(
    campaign: Campaign,
    version: NoticeVersion | None,
    form: SignFormBase | None,
    latest: ConsentRecord | None,
    ineligible: str | None,
    withdraw_form: WithdrawForm | None = None,
) -> str:
    service, user, lang = consent(), current_user.user, str(get_locale())
    notice = version.notice if version else None
    enrollment = contributions().enrollment(user, campaign)
    rejoin = enrollment is not None and enrollment.state is EnrollmentState.ERASED
    reconsent = latest is not None and version is not None and latest.notice_version_id != version.id and not rejoin
    in_force = _in_force_matters(service, user.subject_id, campaign.id)
    names = _matter_names(service, user.subject_id, campaign.id, lang)
    declined = [names.get(m.id, m.id) for m in notice.matters if m.id not in in_force] if notice and latest else []
    return render_template(
        "contribute/consent/sign.html",
        campaign=campaign,
        version=version,
        notice=notice,
        sections={s.key: s for s in notice_sections(notice, lang)} if notice else {},
        form=form,
        latest=latest,
        reconsent=reconsent and form is not None,
        rejoin=rejoin and form is not None,
        adding=form is not None and request.args.get("change") == "optional" and not rejoin,
        declined=declined if form is None and not rejoin else [],
        changed=_changed_sections(_notice_of(latest), notice, lang) if reconsent and notice and latest else [],
        ineligible=ineligible,
        # the version the latest signature was given on (the current one may be newer: then it asks to sign again)
        signed_version=(get_session().get(NoticeVersion, latest.notice_version_id) if latest else None),
        in_force=in_force,
        matter_names=names,
        withdraw_form=withdraw_form or _withdraw_form(in_force, "campaign", recordings=_recordings_held(user,
                                                                                                     campaign)),
        matter_field=matter_field,
        notice_lang=lang,
    )


# --- withdrawing -------------------------------------------------------------------------------------------


def _withdraw_form(in_force: list[str], back: str, formdata: Any = None, recordings: int = 0) -> WithdrawForm:
    form = WithdrawForm(formdata=formdata)
    form.matters.choices = [SelectChoice(m, m) for m in in_force]
    form.back = back
    form.recordings = recordings
    return form


def _recordings_held(user: User, campaign: Campaign | None) -> int:
    """How many recordings withdrawing the voice recording consent would delete now (0 when that consent is not
    in force or nothing is held)."""
    if campaign is None or not campaign.has_voice:
        return 0
    if MatterKind.VOICE_RECORDING not in consent().active_kinds(user.subject_id, campaign.id):
        return 0
    enrollment = contributions().enrollment(user, campaign)
    if enrollment is None or enrollment.state is EnrollmentState.ERASED:
        return 0
    try:
        return len(contributions().photo_set(user, campaign).voice_clips)
    except NotEligible:
        return 0


def _matter_names(service: ConsentService, subject_id: str, campaign_id: str, lang: str) -> dict[str, str]:
    """Matter id -> a short name for it (its kind; a custom matter's summary in `lang`), from the version the
    person last signed."""
    latest = service.latest_record(subject_id, campaign_id)
    notice = _notice_of(latest) if latest else None
    if notice is None:
        return {}
    return {m.id: matter_name(m, lang) for m in notice.matters}


@bp.post("/campaigns/<slug>/consent/withdraw")
@allow(Role.CONTRIBUTOR)
def consent_withdraw(slug: str) -> Response | tuple[str, int]:
    campaign = _campaign_or_404(slug)
    user, service = current_user.user, consent()
    in_force = _in_force_matters(service, user.subject_id, campaign.id)
    back = "campaign" if request.form.get("back") == "campaign" else "overview"
    form = _withdraw_form(in_force, back, formdata=request.form, recordings=_recordings_held(user, campaign))
    if form.validate_on_submit():
        chosen = form.chosen()
        erases = _erases(service, user.subject_id, campaign.id, chosen, in_force)
        deletes_voice = not erases and form.recordings > 0 and _stops_voice(
            service, user.subject_id, campaign.id, chosen, in_force)
        refused = _unconfirmed(form, campaign, erases, deletes_voice)
        if refused is not None:
            flash(refused, "error")
            return _withdraw_refused(campaign, back, form)
        try:
            outcome = withdraw_consent(
                service, user.subject_id, campaign.id, chosen, ip_hash=hash_ip(request.remote_addr or ""),
                erasure=erasure(),
            )
        except ConsentStateError:
            form.matters.errors = [_("There is no consent in force to withdraw.")]
        else:
            get_session().commit()
            deleted = form.recordings if deletes_voice else 0
            flash(_withdrawn_message(outcome.erasure_due, campaign.has_voice, deleted), "success")
            return redirect(url_for("contribute.consent_receipt", receipt_id=outcome.record.id))
    return _withdraw_refused(campaign, back, form)


def _unconfirmed(form: WithdrawForm, campaign: Campaign, erases: bool, deletes_voice: bool) -> str | None:
    """The message (also placed at the box) when a withdrawal that deletes data lacks its confirming tick."""
    if erases and not form.confirm_erasure.data:
        message = (_("This withdrawal erases your photos and recordings in this campaign. Tick the box to confirm.")
                   if campaign.has_voice else
                   _("This withdrawal erases your photos in this campaign. Tick the box to confirm."))
        form.confirm_erasure.errors = [message]
        return message
    if deletes_voice and not form.confirm_voice_erasure.data:
        message = _("Withdrawing the voice recording consent deletes your %(n)d recording(s) in this campaign. Tick "
                    "the box to confirm.", n=form.recordings)
        form.confirm_voice_erasure.errors = [message]
        return message
    return None


def _withdraw_refused(campaign: Campaign, back: str, form: WithdrawForm) -> tuple[str, int]:
    """The page the withdrawal came from again, with the form's errors (400)."""
    service, user = consent(), current_user.user
    if back == "campaign":
        version, latest = service.current_version(campaign.id), service.latest_record(user.subject_id, campaign.id)
        return _sign_page(campaign, version, None, latest, None, withdraw_form=form), 400
    return _overview_page({campaign.id: form}), 400


def _erases(service: ConsentService, subject_id: str, campaign_id: str, chosen: list[str] | None,
            in_force: list[str]) -> bool:
    """Whether this withdrawal ends a required consent (erasing the photos and recordings); matters not in force
    are left to `withdraw_consent` to refuse."""
    if chosen is not None and not set(chosen) <= set(in_force):
        return False
    return withdrawal_erases(service, subject_id, campaign_id, chosen)


def _stops_voice(service: ConsentService, subject_id: str, campaign_id: str, chosen: list[str] | None,
                 in_force: list[str]) -> bool:
    """Whether this withdrawal ends the voice recording consent (which deletes the recordings: withdraw_consent)."""
    if chosen is not None and not set(chosen) <= set(in_force):
        return False
    return MatterKind.VOICE_RECORDING in service.kinds_stopped_by(subject_id, campaign_id, chosen)


def _withdrawn_message(erasure_due: bool, voice: bool = True, recordings_deleted: int = 0) -> str:
    if erasure_due and not voice:
        return _("Withdrawn. Processing stopped and your photos in this campaign were erased now: they can no longer "
                 "be opened by anyone. Any remaining copies are deleted within 5 days.")
    if erasure_due:
        return _("Withdrawn. Processing stopped and your photos and recordings in this campaign were erased now: "
                 "they can no longer be opened by anyone. Any remaining copies are deleted within 5 days.")
    if recordings_deleted:
        return _("Withdrawn. Voice recording stopped and your %(n)d recording(s) in this campaign were deleted now: "
                 "they can no longer be opened by anyone. Any remaining copies are deleted within 5 days. Your photos "
                 "stay under the consents still in force.", n=recordings_deleted)
    return _("Withdrawn. Your data is no longer used for the withdrawn purposes.")


# --- receipts ----------------------------------------------------------------------------------------------


@bp.get("/consent/")
@allow(Role.CONTRIBUTOR)
def consent_receipts() -> str:
    return _overview_page({})


def _overview_page(failed_forms: dict[str, WithdrawForm]) -> str:
    service, user, lang = consent(), current_user.user, str(get_locale())
    groups: dict[str, dict[str, Any]] = {}
    for record in service.records(user.subject_id):
        group = groups.setdefault(record.campaign_id, _group(record.campaign_id))
        group["records"].append(record)
        group["versions"].setdefault(record.notice_version_id, _version_number(record.notice_version_id))
    for campaign_id, group in groups.items():
        in_force = _in_force_matters(service, user.subject_id, campaign_id)
        group["in_force"] = in_force
        group["names"] = _matter_names(service, user.subject_id, campaign_id, lang)
        group["needs_reconsent"] = service.needs_reconsent(user.subject_id, campaign_id)
        group["form"] = failed_forms.get(campaign_id) or _withdraw_form(
            in_force, "overview", recordings=_recordings_held(user, group["campaign"]))
    return render_template("contribute/consent/receipts.html", groups=list(groups.values()))


def _group(campaign_id: str) -> dict[str, Any]:
    return {"campaign": get_session().get(Campaign, campaign_id), "records": [], "versions": {}}


def _version_number(version_id: str) -> int | None:
    version = get_session().get(NoticeVersion, version_id)
    return version.number if version else None


@bp.get("/consent/receipts/<receipt_id>")
@allow(Role.CONTRIBUTOR)
def consent_receipt(receipt_id: str) -> str:
    service = consent()
    record = _own_record_or_404(service, receipt_id)
    receipt = json.loads(record.receipt)["receipt"]
    return render_template(
        "contribute/consent/receipt.html",
        record=record,
        receipt=receipt,
        facts=receipt_facts(receipt),
        campaign=get_session().get(Campaign, record.campaign_id),
        valid=service.verify(record.receipt_bytes).valid,
        standing=receipt_standing(service, record).value,
        keys_path=KEYS_PATH,
    )


@bp.get("/consent/receipts/<receipt_id>/receipt.json")
@allow(Role.CONTRIBUTOR)
def consent_receipt_download(receipt_id: str) -> Response:
    return receipt_file(_own_record_or_404(consent(), receipt_id))


def receipt_file(record: ConsentRecord) -> Response:
    """The signed receipt as a file download: its bytes verbatim, so it verifies offline (also the compliance
    officer's download)."""
    response = Response(record.receipt_bytes, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="consent-receipt-{record.id}.json"'
    return response
