"""The operator's release pages: draft a release (campaign, licensee, purpose, released fields), build it (which
verifies it at once), and read the build summary and the verification report. Approval and delivery belong to
compliance officers (webapp.blueprints.comply.release_views).

The build is a background job (collection.releases.jobs): anonymizing takes seconds per photo. The page shows
the job's progress and refreshes itself until the build is recorded; `datadam release build` does the same work
in the foreground.
"""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from collection.accounts import Role
from collection.releases import ALLOW_LIST, ReleaseDraft, ReleaseError, ReleaseRuleError
from collection.releases.jobs import BUILD_ERROR, build_job, queue_build
from webapp.access import allow
from webapp.blueprints.operate.views import bp
from webapp.commands_release import release_service
from webapp.db import get_session
from webapp.release_words import FIELD_LABELS, PII_WORDS, build_error_text, field_labels, refusal_text
from webapp.services import background, campaigns

OPERATORS = (Role.OPERATOR, Role.ADMIN)


class ReleaseForm(FlaskForm):
    """Shapes only; the release service checks the rules (allow-list, collected fields, no personal data)."""

    campaign = SelectField(_l("Campaign"), validators=[DataRequired()])
    licensee = StringField(_l("Licensee"), validators=[DataRequired(), Length(max=200)])
    purpose = TextAreaField(_l("Purpose of the licensee"), validators=[DataRequired(), Length(max=2000)])
    fields = SelectMultipleField(
        _l("Fields released beside the media"), choices=[SelectChoice(name, FIELD_LABELS[name]) for name in ALLOW_LIST]
    )
    include_voice = BooleanField(_l("Include accepted voice recordings"))


def rule_text(exc: ReleaseRuleError) -> str:
    """A refusal of the release rules in the operator's language (the service words it in English)."""
    problem = exc.problem
    if problem.startswith("the campaign does not collect: "):
        names = problem.removeprefix("the campaign does not collect: ").split(", ")
        return _("The campaign does not collect: %(fields)s.", fields=field_labels(names))
    if problem.startswith("not on the allow-list: "):
        return _("Not allowed in a release: %(fields)s.", fields=problem.removeprefix("not on the allow-list: "))
    if problem == "the campaign collects no recordings":
        return _("This campaign collects no voice recordings.")
    if problem.startswith("must not hold personal data (found: "):
        kinds = problem.removeprefix("must not hold personal data (found: ").rstrip(")").split(", ")
        return _("Take the personal data out of this text (it holds %(what)s).",
                 what=", ".join(str(PII_WORDS.get(k, k)) for k in kinds))
    if problem == "is required":
        return _("Required.")
    return problem


def _rules_ok(form: ReleaseForm) -> bool:
    """The campaign-dependent rules checked together, so every problem shows at once (the service checks them
    again, one at a time)."""
    from collection.releases.fields import check_fields

    campaign = campaigns().by_slug(form.campaign.data or "")
    ok = True
    try:
        check_fields(campaign, form.fields.data or [])
    except ReleaseRuleError as exc:
        form.fields.errors = [*form.fields.errors, rule_text(exc)]
        ok = False
    if form.include_voice.data and not campaign.has_voice:
        form.include_voice.errors = [*form.include_voice.errors, _("This campaign collects no voice recordings.")]
        ok = False
    return ok


@bp.get("/releases")
@allow(*OPERATORS)
def releases() -> str:
    service = release_service()
    rows = [(r, service.campaign_of(r)) for r in service.all()]
    return render_template("operate/releases/index.html", rows=rows)


@bp.route("/releases/new", methods=["GET", "POST"])
@allow(*OPERATORS)
def release_new() -> Response | str:
    from collection.releases.fields import available_fields

    form = ReleaseForm()
    every = campaigns().all()
    form.campaign.choices = [SelectChoice(c.slug, f"{c.title(current_user.locale)} ({c.slug})") for c in every]
    # Offer only fields some campaign collects (gender and region are on the allow-list for campaigns that will
    # collect them; none does yet); the rules still check the chosen campaign's own fields.
    collected = {name for c in every for name in available_fields(c)}
    form.fields.choices = [choice for choice in form.fields.choices if choice.value in collected]
    if not form.is_submitted():
        form.fields.data = ["age_bracket"]
    shaped = form.validate_on_submit()
    ruled = form.is_submitted() and not form.campaign.errors and _rules_ok(form)  # all problems at once
    if shaped and ruled:
        draft = ReleaseDraft(
            campaigns().by_slug(form.campaign.data or ""),
            form.licensee.data or "",
            form.purpose.data or "",
            form.fields.data or [],
            bool(form.include_voice.data),
        )
        try:
            release = release_service().draft(current_user.user, draft)
        except ReleaseRuleError as exc:
            getattr(form, exc.field, form.purpose).errors.append(rule_text(exc))
        else:
            get_session().commit()
            flash(_("Release drafted. Build it when you are ready."), "success")
            return redirect(url_for("operate.release_page", release_id=release.id))
    return render_template("operate/releases/new.html", form=form, labels=FIELD_LABELS,
                           any_voice=any(c.has_voice for c in every))


@bp.get("/releases/<release_id>")
@allow(*OPERATORS)
def release_page(release_id: str) -> str:
    service = release_service()
    release = service.get(release_id)
    return render_template(
        "operate/releases/page.html",
        release=release,
        job=None if release.built else build_job(get_session(), release.id),
        build_error=(release.build_summary or {}).get(BUILD_ERROR),
        campaign=service.campaign_of(release),
        lists=service.withdrawal_lists(release),
        labels=FIELD_LABELS,
    )


@bp.post("/releases/<release_id>/build")
@allow(*OPERATORS)
def release_build(release_id: str) -> Response:
    service = release_service()
    release = service.get(release_id)
    try:
        queue_build(background().queue, get_session(), release, current_user.user)
    except ReleaseError as exc:
        get_session().rollback()
        flash(refusal_text(exc), "error")
        return redirect(url_for("operate.release_page", release_id=release_id))
    get_session().commit()  # the job is dispatched now (with the synchronous backend it has even run)
    get_session().refresh(release)
    if not release.built:
        error = (release.build_summary or {}).get(BUILD_ERROR)
        if error:
            flash(build_error_text(error), "error")
        else:
            flash(_("Building in the background: this page shows when it is done."), "info")
    elif release.verification_passed:
        flash(_("Built and verified: a compliance officer can now approve it."), "success")
    else:
        flash(_("Built, but the verification failed: see the failures below."), "error")
    return redirect(url_for("operate.release_page", release_id=release_id))
