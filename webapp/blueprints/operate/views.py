"""The operator's pages: campaigns (list, create, edit, open, close, dashboard)."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from collection.accounts import Role
from collection.campaigns import Campaign
from collection.campaigns.notice_template import facts_changed
from collection.campaigns.service import UnreachableBracket
from collection.errors import InvalidTransition
from webapp.access import allow
from webapp.blueprints.operate.forms import CampaignForm, settings_digest, unreachable_words
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


def refusal_text(exc: Exception, form: CampaignForm | None = None) -> str:
    """The refusal in the operator's language, naming the fields it is about by their form labels."""
    message = str(exc)
    words = next((str(text) for english, text in CAMPAIGN_REFUSALS.items() if message.startswith(english)), message)
    fields = getattr(exc, "detail", {}).get("fields") or []
    settings = getattr(exc, "detail", {}).get("settings") or []
    if settings:
        words = f"{words} {', '.join(str(FACT_LABELS.get(name, name)) for name in settings)}"
    if fields:
        labels = [str(form[name].label.text) if form is not None and name in form else name for name in fields]
        words = f"{words} {', '.join(labels)}"
    return words


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
    return render_template("operate/campaign_form.html", form=form, campaign=None,
                           server_max_mb=settings().max_upload_mb)


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
        failure_text=lambda key: gate_advice(*key.split("/", 1)).text,
        set_state_label=set_state_label,
        photo_state_label=photo_state_label,
    )


@bp.route("/campaigns/<slug>/edit", methods=["GET", "POST"])
@allow(*OPERATORS)
def edit_campaign(slug: str) -> Response | str | tuple[str, int]:
    c = campaigns().by_slug(slug)
    form = CampaignForm()
    if not form.is_submitted():
        form.fill(c)
    elif form.basis.data != settings_digest(c):
        # another tab or another operator saved since this form was filled: keep what was typed, say so, and let a
        # second save (now based on the current settings) go through once the operator has looked
        form.form_errors.append(_("This campaign was changed since you opened this form (in another tab or by another "
                                  "operator), so nothing was saved. Check the current settings, then save again."))
        form.merge_current(c)  # what this form did not touch now shows the saved values
        return render_template("operate/campaign_form.html", form=form, campaign=c,
                               server_max_mb=settings().max_upload_mb), 409
    elif form.validate():
        values = form.values()
        values.pop("slug")
        try:
            campaigns().update(current_user.user, c, values)
        except InvalidTransition as exc:
            flash(refusal_text(exc, form), "error")
        except UnreachableBracket as exc:
            form.brackets.errors.append(str(unreachable_words(exc)))
        except ValueError as exc:
            form.brackets.errors.append(str(exc))
        else:
            get_session().commit()
            flash(_("Saved."), "success")
            return redirect(url_for("operate.campaign", slug=slug))
    return render_template("operate/campaign_form.html", form=form, campaign=c, server_max_mb=settings().max_upload_mb)


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
    try:
        campaigns().close(current_user.user, c)
    except InvalidTransition as exc:
        flash(refusal_text(exc), "error")
    else:
        get_session().commit()
        flash(_("The campaign is closed. Retention runs from today."), "success")
    return redirect(url_for("operate.campaign", slug=slug))
