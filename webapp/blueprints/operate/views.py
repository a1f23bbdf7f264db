"""The operator's pages: campaigns (list, create, edit, open, close, dashboard)."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from collection.accounts import Role
from collection.campaigns import Campaign, CampaignStatus
from collection.campaigns.notice_template import facts_changed
from collection.campaigns.service import UnreachableBracket
from collection.errors import InvalidTransition
from webapp.access import allow
from webapp.blueprints.operate.forms import (
    LOCKED_WHILE_OPEN,
    CampaignForm,
    settings_digest,
    unreachable_words,
    with_locked_settings,
)
from webapp.blueprints.operate.photo_rule_words import face_size_hint, rule_rows
from webapp.db import get_session
from webapp.gate_messages import gate_advice, photo_state_label, set_state_label
from webapp.services import campaigns, consent, settings

bp = Blueprint("operate", __name__, url_prefix="/operate")
OPERATORS = (Role.OPERATOR, Role.ADMIN)

# The campaign service explains refusals in English; the pages say the same in the operator's language.
CAMPAIGN_REFUSALS = {
    "the short name uses 3-63 lower-case letters, digits and '-'":
        _l("The short name uses 3 to 63 lower-case letters, digits and '-'."),
    "another campaign uses this short name": _l("Another campaign uses this short name."),
    "a closed campaign cannot be edited": _l("A closed campaign cannot be edited."),
    "these settings are fixed while the campaign is open": _l("These settings are fixed while the campaign is open:"),
    "publish the consent document before opening the campaign":
        _l("Publish the consent document before opening the campaign."),
    "only a draft campaign can be opened": _l("Only a draft campaign can be opened."),
    "a campaign needs at least one age bracket with photos before opening":
        _l("A campaign needs at least one age bracket with photos before opening."),
    "only an open campaign can be closed": _l("Only an open campaign can be closed."),
    "the retention period can only be shortened while the campaign is open":
        _l("While the campaign is open its retention period can only be shortened: contributors agreed to the period "
           "their document states."),
    "the published consent document describes other settings: publish a new version":
        _l("The published consent document was written for other settings of this campaign. Draft, check and "
           "publish a new version first. Changed since:"),
}
# The campaign settings a consent document states (`collection.campaigns.notice_template.notice_facts`).
FACT_LABELS = {
    "brackets": _l("age brackets and photo counts"),
    "payment_krw": _l("payment"),
    "voice_prompts": _l("voice prompts"),
    "retention_days": _l("retention period"),
    "ages": _l("accepted ages"),
}


def outdated_notice(campaign: Campaign) -> list[str]:
    """Names of the settings (in the reader's language) that changed since the campaign's consent document in force
    was written; [] when it describes the campaign (or none is published)."""
    version = consent().current_version(campaign.id)
    changed = facts_changed(version.written_for, campaign) if version else []
    return [str(FACT_LABELS.get(name, name)) for name in changed]


# Photo states as the campaign dashboard tells operators (the contributor's wording asks them to act).
OPERATOR_PHOTO_STATES = {
    "failed": _l("Failed the checks (the contributor must replace it)"),
    "rejected": _l("Rejected by a reviewer (the contributor must replace it)"),
    "needs_review": _l("Waiting for a person to check it"),
}
# The campaign settings a refusal may name that are no single form field, or whose form label is an instruction.
SETTING_LABELS = {
    "photo_rules": _l("photo rules (face size, eye distance, file size, other thresholds)"),
    "voice_prompts": _l("voice prompts"),
    "brackets": _l("age brackets and photo counts"),
    "retention_days": _l("retention period"),
}


def setting_label(name: str, form: CampaignForm | None = None) -> str:
    """A campaign setting's name in the operator's language, never its key."""
    if name in SETTING_LABELS:
        return str(SETTING_LABELS[name])
    if form is not None and name in form:
        return str(form[name].label.text)
    unbound = getattr(CampaignForm, name, None)
    return str(unbound.args[0]) if unbound is not None and getattr(unbound, "args", None) else _("another setting")


def refusal_text(exc: Exception, form: CampaignForm | None = None) -> str:
    """The refusal in the operator's language, naming the settings it is about in that language."""
    message = str(exc)
    words = next((str(text) for english, text in CAMPAIGN_REFUSALS.items() if message.startswith(english)), message)
    detail = getattr(exc, "detail", {})
    settings = detail.get("settings") or []
    if settings:
        words = f"{words} {', '.join(str(FACT_LABELS.get(name, name)) for name in settings)}"
    if detail.get("fields"):
        words = f"{words} {', '.join(setting_label(name, form) for name in detail['fields'])}"
    return words


def form_page(form: CampaignForm, campaign: Campaign | None) -> str:
    """The campaign form (new when `campaign` is None); an open campaign's fixed settings are shown disabled."""
    return render_template(
        "operate/campaign_form.html", form=form, campaign=campaign, server_max_mb=settings().max_upload_mb,
        locked=LOCKED_WHILE_OPEN if campaign is not None and campaign.status is CampaignStatus.OPEN else (),
        rule_rows=rule_rows(), face_size_hint=face_size_hint(),
    )


@bp.get("/")
@allow(*OPERATORS)
def dashboard() -> str:
    return render_template("operate/dashboard.html", campaigns=campaigns().all())


@bp.route("/campaigns/new", methods=["GET", "POST"])
@allow(*OPERATORS)
def new_campaign() -> Response | str:
    form = CampaignForm()
    form.creating = True
    if form.validate_on_submit():
        try:
            campaign = campaigns().create(current_user.user, form.values())
        except InvalidTransition as exc:
            form.slug.errors.append(refusal_text(exc))
        except UnreachableBracket as exc:
            form.brackets.errors.append(str(unreachable_words(exc)))
        except ValueError as exc:
            form.brackets.errors.append(str(exc))
        else:
            get_session().commit()
            flash(_("Campaign created as a draft. Write its consent document next."), "success")
            return redirect(url_for("operate.campaign", slug=campaign.slug))
    return form_page(form, None)


@bp.get("/campaigns/<slug>")
@allow(*OPERATORS)
def campaign(slug: str) -> str:
    c = campaigns().by_slug(slug)
    return render_template(
        "operate/campaign.html",
        campaign=c,
        stats=campaigns().dashboard(c),
        notice=consent().current_version(c.id),
        notice_outdated=outdated_notice(c),
        closing=campaigns().close_preview(c) if c.status is CampaignStatus.OPEN else None,
        failure_text=lambda key: gate_advice(*key.split("/", 1)).text,
        set_state_label=set_state_label,
        photo_state_label=lambda state: str(OPERATOR_PHOTO_STATES.get(state) or photo_state_label(state)),
    )


@bp.route("/campaigns/<slug>/edit", methods=["GET", "POST"])
@allow(*OPERATORS)
def edit_campaign(slug: str) -> Response | str | tuple[str, int]:
    c = campaigns().by_slug(slug)
    if c.status is CampaignStatus.CLOSED:
        flash(_("A closed campaign cannot be edited."), "error")
        return redirect(url_for("operate.campaign", slug=slug))
    is_open = c.status is CampaignStatus.OPEN
    form = CampaignForm(formdata=with_locked_settings(request.form, c)) if is_open and request.method == "POST" \
        else CampaignForm()
    if not form.is_submitted():
        form.fill(c)
    elif form.basis.data != settings_digest(c):
        # another tab or another operator saved since this form was filled: keep what was typed, say so, and let a
        # second save (now based on the current settings) go through once the operator has looked
        form.form_errors.append(_("This campaign was changed since you opened this form (in another tab or by another "
                                  "operator), so nothing was saved. Check the current settings, then save again."))
        form.merge_current(c)  # what this form did not touch now shows the saved values
        return form_page(form, c), 409
    elif form.validate():
        values = form.values()
        values.pop("slug")
        try:
            campaigns().update(current_user.user, c, values)
        except InvalidTransition as exc:
            form.form_errors.append(refusal_text(exc, form))  # shown above the form, with what was typed kept
        except UnreachableBracket as exc:
            form.brackets.errors.append(str(unreachable_words(exc)))
        except ValueError as exc:
            form.brackets.errors.append(str(exc))
        else:
            get_session().commit()
            flash(_("Saved."), "success")
            return redirect(url_for("operate.campaign", slug=slug))
    return form_page(form, c)


@bp.post("/campaigns/<slug>/open")
@allow(*OPERATORS)
def open_campaign(slug: str) -> Response:
    c = campaigns().by_slug(slug)
    try:
        campaigns().open(current_user.user, c, consent().current_version(c.id))
    except InvalidTransition as exc:
        flash(refusal_text(exc), "error")
    else:
        get_session().commit()
        flash(_("The campaign is open."), "success")
    return redirect(url_for("operate.campaign", slug=slug))


@bp.post("/campaigns/<slug>/close")
@allow(*OPERATORS)
def close_campaign(slug: str) -> Response:
    c = campaigns().by_slug(slug)
    if request.form.get("confirm") != "y":  # closing cannot be undone: the page says what it does, the tick agrees
        flash(_("Nothing was closed: tick the box to confirm that you read what closing does."), "error")
        return redirect(url_for("operate.campaign", slug=slug, _anchor="close"))
    try:
        campaigns().close(current_user.user, c)
    except InvalidTransition as exc:
        flash(refusal_text(exc), "error")
    else:
        get_session().commit()
        flash(_("The campaign is closed. Retention runs from today."), "success")
    return redirect(url_for("operate.campaign", slug=slug))
