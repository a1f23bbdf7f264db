"""Forms of the compliance officer's pages (shapes only; the compliance services check the rules)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp


class CloseRequestForm(FlaskForm):
    note = TextAreaField(
        _l("Note to the contributor"),
        validators=[DataRequired(), Length(max=2000)],
        description=_l("What was done, or why the request is refused. The contributor sees this note."),
    )
    submit = SubmitField(_l("Close the request"))


class ButtonForm(FlaskForm):
    """A button that only needs the CSRF token."""

    submit = SubmitField(_l("Continue"))


class SignOffForm(FlaskForm):
    digest = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9a-f]{64}$")])
    note = TextAreaField(_l("Findings (optional)"), validators=[Optional(), Length(max=2000)])
    submit = SubmitField(_l("Sign off this month"))


class VerifyForm(FlaskForm):
    campaign = SelectField(_l("Campaign"), choices=[], validators=[Optional()], validate_choice=True)
    submit = SubmitField(_l("Verify every signature"))
