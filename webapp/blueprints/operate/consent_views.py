"""The operator's consent pages: a campaign's consent document (versions, the draft editor, publishing, the
diff between versions) and the review queue of consents that need a look.

Publishing a new version makes every contributor whose required consent is in force re-consent before any
further upload (`ConsentService.may_upload` / `needs_reconsent` encode it); the version pages say how many
people that is, and publishing is confirmed on a page that says it first. A closed campaign's document is final:
no draft, no new version. Compliance officers read the published versions, the diff and the review queue; they
never draft, publish or decide reviews.

Privacy decision for the review queue: operators see what the check needs - the event, its time, the notice
version, the under-14 flag, the legal representative's relationship, each matter's yes/no and whether the
signed receipt verifies - and never names, email addresses, birth dates, subject ids or IP hashes. A typed
name cannot be checked against anything an operator holds (datadam keeps no identity documents), so showing
it would only spread a child's and a parent's names to every operator. A consent that needs following up is
flagged with a reason; contacting the person is the compliance officer's job, who reaches them by account.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from collection.accounts import Role
from collection.audit.log import Actor
from collection.campaigns import Campaign, CampaignStatus
from collection.campaigns.notice_template import (
    campaign_as_written,
    default_notice,
    facts_changed,
    fit_to_campaign,
    notice_facts,
)
from collection.errors import InvalidTransition
from consent.errors import ConsentStateError, NoticeFormatError, NoticeIncompleteError, ReviewClosedError
from consent.models import ConsentRecord, NoticeState, NoticeVersion
from consent.notice import (
    LANGUAGES,
    LocalizedText,
    Matter,
    MatterKind,
    MissingItem,
    Notice,
    diff_notices,
    missing_items,
    notice_sections,
)
from consent.redraft import FieldUpdate, carry_over
from consent.service import ConsentService
from webapp.access import allow
from webapp.blueprints.operate.consent_forms import (
    KIND_LABELS,
    LANGUAGE_LABELS,
    CustomMatterForm,
    DiffForm,
    NoticeFormBase,
    NoticeLayout,
    PublishForm,
    ReviewForm,
    field_for_missing,
    kind_label,
    matter_label,
    notice_form,
    notice_formdata,
    notice_from_form,
    path_label,
    slot_label,
)
from webapp.blueprints.operate.views import FACT_LABELS, bp, outdated_notice
from webapp.db import get_session
from webapp.services import audit, campaigns, consent, settings

STAFF = (Role.OPERATOR, Role.ADMIN)
# The compliance officer audits what people were shown: the published versions, their text and the changes between
# them, and the review queue (read only). Drafting, publishing and review decisions stay with operators.
READERS = (*STAFF, Role.COMPLIANCE)


def _edits() -> bool:
    """Whether the signed-in user may draft, publish and decide reviews (an operator or admin)."""
    return bool(current_user.role in STAFF)


# --- loading -----------------------------------------------------------------------------------------------


def _campaign_or_404(slug: str) -> Campaign:
    campaign = get_session().scalar(select(Campaign).where(Campaign.slug == slug))
    if campaign is None:
        abort(404)
    return campaign


def _version_or_404(service: ConsentService, campaign: Campaign, number: int) -> NoticeVersion:
    version = next((v for v in service.versions(campaign.id) if v.number == number), None)
    if version is None or not (version.published or _edits()):
        abort(404)  # a compliance officer reads published versions only: a draft was never shown to anyone
    return version


def _template(campaign: Campaign) -> Notice:
    s = settings()
    return default_notice(campaign, s.controller_name, s.controller_contact, s.jurisdictions)


@dataclasses.dataclass(frozen=True)
class Redraft:
    """Where the editor starts: `notice`, and when the campaign's settings changed since the latest version
    (`number`) was written, which settings (`changed`) and what that updated in the text (`updates`)."""

    notice: Notice
    number: int | None = None
    changed: tuple[str, ...] = ()
    updates: tuple[FieldUpdate, ...] = ()


def _redraft(service: ConsentService, campaign: Campaign) -> Redraft:
    """The draft, else the latest published version, else the default notice; fitted to the campaign's current
    matters (voice or not) and the installation's jurisdictions. When the settings the latest version states
    (counts, payment, periods...) changed since it was written, only the texts stating them are updated: every
    other edit (contacts, wording, campaign-specific uses) is carried over (`consent.redraft`)."""
    versions = service.versions(campaign.id)
    template = _template(campaign)
    if not versions:
        return Redraft(template)
    latest = versions[-1]
    changed = facts_changed(latest.written_for, campaign)
    if not changed or latest.written_for is None:
        return Redraft(fit_to_campaign(latest.notice, template))
    s = settings()
    then = default_notice(campaign_as_written(campaign, latest.written_for), s.controller_name,
                          s.controller_contact, s.jurisdictions)
    notice, updates = carry_over(latest.notice, then, template)
    return Redraft(fit_to_campaign(notice, template), latest.number, tuple(changed), updates)


def _base_notice(service: ConsentService, campaign: Campaign) -> Notice:
    return _redraft(service, campaign).notice


def _asked_to_reconsent(service: ConsentService, campaign_id: str, version_id: str) -> int:
    """How many contributors hold the required consents under a version other than `version_id`: publishing
    that version (or having published it) asks each of them to re-consent before any further upload."""
    return service.holders_under_other_versions(campaign_id, version_id)


# --- the consent document ----------------------------------------------------------------------------------


@bp.get("/campaigns/<slug>/consent")
@allow(*READERS)
def consent_document(slug: str) -> str:
    campaign = _campaign_or_404(slug)
    service = consent()
    versions = [v for v in service.versions(campaign.id) if _edits() or v.published]
    current = service.current_version(campaign.id)
    pending = _asked_to_reconsent(service, campaign.id, current.id) if current else 0
    return render_template(
        "operate/consent/document.html",
        campaign=campaign,
        versions=versions,
        current=current,
        pending=pending,
        has_draft=any(v.state is NoticeState.DRAFT for v in versions),
        edits=_edits(),
        notice_outdated=outdated_notice(campaign),
        diff_form=DiffForm(data={"old": max(1, len(versions) - 1), "new": len(versions), "lang": str(get_locale())}),
    )


def _closed(campaign: Campaign) -> bool:
    """A closed campaign collects nothing more: its consent document is final (no new draft, no new version)."""
    return campaign.status is CampaignStatus.CLOSED


def _closed_message() -> str:
    return _("This campaign is closed, so its consent document can no longer be changed or published. The versions "
             "published while it was open stay as they are.")


@bp.route("/campaigns/<slug>/consent/draft", methods=["GET", "POST"])
@allow(*STAFF)
def consent_draft(slug: str) -> Response | tuple[str, int] | str:
    campaign = _campaign_or_404(slug)
    if not request.method == "POST":
        if _closed(campaign):
            flash(_closed_message(), "error")
            return redirect(url_for("operate.consent_document", slug=slug))
        base = _base_notice(consent(), campaign)
        layout = NoticeLayout.of(base)
        return _draft_page(campaign, notice_form(layout, notice_formdata(base, layout)), layout, [])
    saved = _save_draft(campaign)
    if not isinstance(saved, NoticeVersion):
        return saved
    if request.form.get("publish"):
        # publishing asks every contributor whose consent is in force to consent again: it is confirmed first,
        # on a page that says how many people that is
        missing = missing_items(saved.notice)
        get_session().commit()  # keep what was typed: the draft is saved even though it cannot go out yet
        if missing:
            layout = NoticeLayout.of(saved.notice)
            form = notice_form(layout, notice_formdata(saved.notice, layout))
            return _draft_page(campaign, form, layout, _place_missing(form, layout, tuple(missing))), 400
        return redirect(url_for("operate.consent_publish", slug=slug))
    get_session().commit()
    if any((request.form.get(name) or "").strip() for name in ("matter_id", "summary_ko", "summary_en")):
        # an optional use was typed but the draft was saved (Enter in a field, say): show it again, not added yet
        layout = NoticeLayout.of(saved.notice)
        form = notice_form(layout, notice_formdata(saved.notice, layout))
        form.form_errors.append(_("Draft saved. The optional use typed below is not added yet: press “Save and add "
                                  "the optional use” to add it."))
        return _draft_page(campaign, form, layout, [], CustomMatterForm())
    flash(_("Draft saved."), "success")
    return redirect(url_for("operate.consent_draft", slug=slug))


def _save_draft(campaign: Campaign, custom: CustomMatterForm | None = None) -> NoticeVersion | tuple[str, int]:
    """Save the editor's fields as the draft (flushed, not committed), or the editor page to show again with
    every typed value kept and the reason: a closed campaign, settings changed meanwhile, a field refused."""
    service = consent()
    base = _base_notice(service, campaign)
    layout = NoticeLayout.of(base)
    form = notice_form(layout, notice_formdata(base, layout))
    if _closed(campaign):
        form.form_errors.append(_closed_message())
        return _draft_page(campaign, form, layout, [], custom), 409
    if request.form.get("written_for") != _facts_digest(campaign):
        # the settings changed while the editor was open: its text may state the old figures, and saving would
        # stamp them as written for the new ones
        # the text stays as typed (nothing is lost), and so does the stale fingerprint: every save from this page
        # is refused until it is reloaded, which fills the editor for the settings as they are now
        form.form_errors.append(_("The campaign's settings changed while this page was open, so nothing was saved. "
                                  "The text below may state the old figures. Copy anything you want to keep, then "
                                  "reload the page: it is filled in again for the new settings."))
        return _draft_page(campaign, form, layout, [], custom, written_for=request.form.get("written_for", "")), 409
    form_ok = form.validate_on_submit() and _categories_ok(form, layout)
    if not form_ok or (custom is not None and not custom.validate()):
        return _draft_page(campaign, form, layout, [], custom), 400
    try:
        return campaigns().draft_notice(campaign, service, notice_from_form(form, layout, base))
    except NoticeFormatError as exc:
        form.form_errors.append(_("The notice cannot be saved: %(reason)s", reason=exc.reason))
        return _draft_page(campaign, form, layout, [], custom), 400


@bp.route("/campaigns/<slug>/consent/draft/publish", methods=["GET", "POST"])
@allow(*STAFF)
def consent_publish(slug: str) -> Response | str:
    """Confirm publishing the saved draft, saying how many contributors will have to consent again."""
    campaign = _campaign_or_404(slug)
    service = consent()
    draft = next((v for v in service.versions(campaign.id) if v.state is NoticeState.DRAFT), None)
    if _closed(campaign) or draft is None:
        flash(_closed_message() if _closed(campaign) else _("There is no draft to publish."), "error")
        return redirect(url_for("operate.consent_document", slug=slug))
    form = PublishForm(digest=_content_digest(draft))
    if form.validate_on_submit():
        if request.form.get("digest") != _content_digest(draft):
            flash(_("The draft changed since this page was shown: check it again before publishing."), "error")
            return redirect(url_for("operate.consent_publish", slug=slug))
        try:
            campaigns().publish_notice(current_user.user, campaign, service, draft)
        except InvalidTransition as exc:
            if exc.detail.get("reason") != "notice_outdated":  # closed meanwhile, or a draft of another campaign
                flash(_closed_message() if exc.detail.get("reason") == "closed" else
                      _("There is no draft to publish."), "error")
                return redirect(url_for("operate.consent_document", slug=slug))
            # the confirmation was for a draft written for other settings: the editor redrafts it for these
            flash(_("Nothing was published: the campaign's settings changed while this page was open, so the draft "
                    "may state the old figures. The editor below has updated it for the current settings: check "
                    "it, then publish again. Changed since:") + " "
                  + ", ".join(str(FACT_LABELS.get(name, name)) for name in changed_settings(exc)), "error")
            return redirect(url_for("operate.consent_draft", slug=slug))
        except NoticeIncompleteError:
            flash(_("The draft cannot be published yet: press “Save and publish” to see what is missing."), "error")
            return redirect(url_for("operate.consent_draft", slug=slug))
        get_session().commit()
        flash(_("Version %(n)d is published.", n=draft.number), "success")
        return redirect(url_for("operate.consent_version", slug=slug, number=draft.number))
    current = service.current_version(campaign.id)
    return render_template("operate/consent/publish.html", campaign=campaign, draft=draft, current=current,
                           asked=_asked_to_reconsent(service, campaign.id, draft.id), form=form)


def changed_settings(exc: InvalidTransition) -> list[str]:
    """The names of the campaign settings a "notice_outdated" refusal says changed."""
    names = exc.detail.get("settings")
    return [str(name) for name in names] if isinstance(names, list | tuple) else []


def _content_digest(version: NoticeVersion) -> str:
    """A fingerprint of a draft's text: the confirmation is for the draft as it was shown."""
    return hashlib.sha256(json.dumps(version.content, sort_keys=True).encode()).hexdigest()[:32]


def _editor_posted() -> bool:
    """Whether the request carries the editor's fields (the add and remove buttons of the editor page do; a bare
    form with only the token does not, and then only the matter is added or removed)."""
    return "written_for" in request.form


@bp.post("/campaigns/<slug>/consent/draft/matters")
@allow(*STAFF)
def consent_draft_add_matter(slug: str) -> Response | tuple[str, int] | str:
    """Add a campaign-specific optional use to the draft (an optional matter of its own, unticked for
    contributors); its full text is written in the editor like every other matter's. What was typed in the
    editor is saved first."""
    campaign = _campaign_or_404(slug)
    service = consent()
    custom = CustomMatterForm()
    if _editor_posted() or _closed(campaign):
        saved = _save_draft(campaign, custom)
        if not isinstance(saved, NoticeVersion):
            return saved
        base = saved.notice
    else:
        base = _base_notice(service, campaign)
        if not custom.validate_on_submit():
            return _custom_refused(campaign, base, custom)
    if (custom.matter_id.data or "") in {m.id for m in base.matters}:
        custom.matter_id.errors = [*custom.matter_id.errors, _("Another matter of this document uses this code.")]
        return _custom_refused(campaign, base, custom)
    matter = Matter(
        id=custom.matter_id.data or "",
        kind=MatterKind.CUSTOM,
        summary=LocalizedText(ko=custom.summary_ko.data or "", en=custom.summary_en.data or ""),
    )
    campaigns().draft_notice(campaign, service, dataclasses.replace(base, matters=(*base.matters, matter)))
    get_session().commit()
    flash(_("Optional use added. Write its full text below, then save."), "success")
    return redirect(url_for("operate.consent_draft", slug=slug, _anchor=f"matter-{matter.id}"))


def _custom_refused(campaign: Campaign, base: Notice, custom: CustomMatterForm) -> tuple[str, int]:
    """The editor again with the refused optional use next to its fields; what the editor holds is kept: the
    submitted fields when they were posted (the draft is then saved already), else the draft as stored."""
    layout = NoticeLayout.of(base)
    form = notice_form(layout, notice_formdata(base, layout))
    get_session().commit()
    return _draft_page(campaign, form, layout, [], custom), 400


@bp.post("/campaigns/<slug>/consent/draft/matters/<matter_id>/remove")
@allow(*STAFF)
def consent_draft_remove_matter(slug: str, matter_id: str) -> Response | tuple[str, int] | str:
    campaign = _campaign_or_404(slug)
    service = consent()
    base = _base_notice(service, campaign)
    matter = next((m for m in base.matters if m.id == matter_id), None)
    if matter is None or matter.kind is not MatterKind.CUSTOM or not FlaskForm().validate_on_submit():
        abort(404)
    if _editor_posted() or _closed(campaign):
        saved = _save_draft(campaign)  # what was typed in the editor is kept
        if not isinstance(saved, NoticeVersion):
            return saved
        base = saved.notice
    remaining = dataclasses.replace(base, matters=tuple(m for m in base.matters if m.id != matter_id))
    campaigns().draft_notice(campaign, service, remaining)
    get_session().commit()
    flash(_("Optional use removed from the draft."), "success")
    return redirect(url_for("operate.consent_draft", slug=slug))


def _draft_page(campaign: Campaign, form: NoticeFormBase, layout: NoticeLayout, missing: list[dict[str, Any]],
                custom: CustomMatterForm | None = None, written_for: str | None = None) -> str:
    service = consent()
    versions = service.versions(campaign.id)
    draft = next((v for v in versions if v.state is NoticeState.DRAFT), None)
    redraft = _redraft(service, campaign)
    return render_template(
        "operate/consent/draft.html",
        campaign=campaign,
        form=form,
        closed=_closed(campaign),
        redraft=redraft,
        changed_settings=[str(FACT_LABELS.get(n, n)) for n in redraft.changed],
        updates=_update_rows(redraft, layout),
        facts_digest=_facts_digest(campaign) if written_for is None else written_for,
        layout=layout,
        missing=missing,
        draft=draft,
        languages=LANGUAGES,
        language_labels=LANGUAGE_LABELS,
        kind_labels=KIND_LABELS,
        asked=_asked_to_reconsent(service, campaign.id, draft.id if draft else ""),
        custom=custom or CustomMatterForm(formdata=None),
        matter_label=matter_label,
    )


def _update_rows(redraft: Redraft, layout: NoticeLayout) -> list[dict[str, Any]]:
    """What the settings change updated in the draft, one row per field and language, for the editor page."""
    rows = []
    for update in redraft.updates:
        field = field_for_missing(MissingItem(update.path, update.language, ""), layout)
        language = LANGUAGE_LABELS.get(update.language or "", "")
        rows.append({"label": slot_label(update.path, layout), "language": language, "kind": update.kind.value,
                     "suggestion": update.suggestion, "field": field})
    return rows


def _facts_digest(campaign: Campaign) -> str:
    """A fingerprint of the settings the editor's text was filled for (`notice_facts`)."""
    return hashlib.sha256(json.dumps(notice_facts(campaign), sort_keys=True).encode()).hexdigest()[:32]


_CATEGORY = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # what `consent.notice.Matter.data_categories` holds


def _categories_ok(form: NoticeFormBase, layout: NoticeLayout) -> bool:
    """Each matter's data categories are codes (face_image, birth_year...), each once; the field says otherwise."""
    ok = True
    for slots in layout.matters:
        field = form[slots.categories_field]
        codes = [c.strip() for c in (field.data or "").split(",") if c.strip()]
        wrong = [c for c in codes if not _CATEGORY.fullmatch(c)]
        if wrong:
            field.errors = [*field.errors, _("Write each category as a code of lower-case letters, digits and _, "
                                             "separated by commas (e.g. face_image, birth_year): %(wrong)s",
                                             wrong=", ".join(wrong))]
        elif len(set(codes)) != len(codes):
            field.errors = [*field.errors, _("Each category once, please.")]
        ok = ok and not wrong and len(set(codes)) == len(codes)
    return ok


def _place_missing(form: NoticeFormBase, layout: NoticeLayout, items: tuple[MissingItem, ...]) -> list[dict[str, Any]]:
    """Put each missing item next to its field and return the named list shown above the form."""
    listed = []
    for item in items:
        message = _missing_message(item)
        name = field_for_missing(item, layout)
        if name is not None:
            form[name].errors = [*form[name].errors, message]
        language = LANGUAGE_LABELS.get(item.language or "", "")
        listed.append({"label": slot_label(item.path, layout), "language": language, "message": message, "field": name})
    return listed


def _missing_message(item: MissingItem) -> str:
    if item.path.endswith(".contact"):
        return _("Add an email address or a phone number.")
    if item.path.endswith(".data_categories"):
        return _("List the data categories of this matter.")
    if item.path.startswith("matters.") and item.path.count(".") == 1 and item.language is None:
        return _("Add a consent matter of this kind: %(kind)s.", kind=kind_label(item.path.removeprefix("matters.")))
    return _("Required before publishing.")


@bp.get("/campaigns/<slug>/consent/v<int:number>")
@allow(*READERS)
def consent_version(slug: str, number: int) -> str:
    campaign = _campaign_or_404(slug)
    service = consent()
    version = _version_or_404(service, campaign, number)
    current = service.current_version(campaign.id)
    notice = version.notice
    return render_template(
        "operate/consent/version.html",
        campaign=campaign,
        version=version,
        is_current=current is not None and current.id == version.id,
        asked=_asked_to_reconsent(service, campaign.id, version.id),
        sections={lang: notice_sections(notice, lang) for lang in LANGUAGES},
        language_labels=LANGUAGE_LABELS,
        edits=_edits(),
        shown_in=request.args.get("lang") if request.args.get("lang") in LANGUAGES else None,
    )


@bp.get("/campaigns/<slug>/consent/diff")
@allow(*READERS)
def consent_diff(slug: str) -> tuple[str, int] | str:
    campaign = _campaign_or_404(slug)
    service = consent()
    form = DiffForm(request.args)
    if not form.validate():
        return render_template("operate/consent/diff.html", campaign=campaign, form=form, diff=None), 400
    old = _version_or_404(service, campaign, form.old.data)
    new = _version_or_404(service, campaign, form.new.data)
    diff = diff_notices(old.notice, new.notice, form.lang.data)
    lang = str(get_locale())
    matters = {m.id: m for m in (*old.notice.matters, *new.notice.matters)}
    labels = {c.path: path_label(c.path, matters, lang) for c in diff.changes}
    return render_template("operate/consent/diff.html", campaign=campaign, form=form, diff=diff, old=old, new=new,
                           labels=labels)


# --- the review queue --------------------------------------------------------------------------------------


@bp.get("/consent/review")
@allow(*READERS)
def consent_review() -> str:
    return _review_page(None, None)


@bp.post("/consent/review/<record_id>")
@allow(*STAFF)
def consent_review_decide(record_id: str) -> Response | tuple[str, int]:
    service = consent()
    record = service.record(record_id)
    if record is None:
        abort(404)
    form = ReviewForm()
    if form.validate_on_submit():
        approve = bool(form.approve.data)
        try:
            service.review(record, current_user.user.id, approve=approve, note=form.note.data or None)
        except ReviewClosedError:
            flash(_("Nothing was changed: this consent is no longer waiting for review. It was already approved, or "
                    "it is flagged and only the compliance officer closes the flag."), "error")
            return redirect(url_for("operate.consent_review"))
        except ConsentStateError:
            form.note.errors = [_("Give a reason to flag a consent.")]
        else:
            user = current_user.user  # ids only: the flag's reason stays on the record, never in the audit log
            audit().record(Actor(user.id, user.role.value), "consent.approved" if approve else "consent.flagged",
                           "consent_record", record.id, campaign_id=record.campaign_id)
            get_session().commit()
            flash(_("Consent approved.") if approve else _("Consent flagged."), "success")
            return redirect(url_for("operate.consent_review"))
    return _review_page(record.id, form), 400


def _review_page(failed_id: str | None, failed_form: ReviewForm | None) -> str:
    service = consent()
    records = service.review_queue()
    rows = [_review_row(service, r) for r in records]
    forms = {r.id: failed_form if r.id == failed_id and failed_form else ReviewForm(formdata=None) for r in records}
    return render_template("operate/consent/review.html", rows=rows, forms=forms, matter_label=matter_label,
                           edits=_edits())


def _review_row(service: ConsentService, record: ConsentRecord) -> dict[str, Any]:
    """Only what the check needs (see the module docstring): no names, no contact data, no subject id."""
    version = get_session().get(NoticeVersion, record.notice_version_id)
    campaign = get_session().get(Campaign, record.campaign_id)
    notice = version.notice if version else None
    decisions = [(m, record.decisions.get(m.id, False)) for m in notice.matters] if notice else []
    return {
        "record": record,
        "campaign": campaign,
        "version": version,
        "decisions": decisions,
        "verifies": service.verify(record.receipt_bytes).valid,
    }
