"""Forms of the compliance officer's pages (shapes only; the compliance services check the rules)."""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError


class CloseRequestForm(FlaskForm):
    note = TextAreaField(
        _l("Note to the contributor"),
        validators=[DataRequired(), Length(max=2000)],
        description=_l("What was done, or why the request is refused. The contributor sees this note."),
    )
    submit = SubmitField(_l("Close the request"))


class ConfirmDeletionForm(CloseRequestForm):
    """Completing an account-wide deletion: the note, and a tick that the officer read what it affects."""

    confirm = BooleanField(
        _l("I have read what this deletion affects. Erase the account and all its data now."),
        validators=[DataRequired(_l("Tick the confirmation first: nothing was erased."))],
    )


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


class CorrectionForm(FlaskForm):
    """A correction request's form: the fields start with the current values; what is left as it is stays."""

    display_name = StringField(_l("Name"), validators=[InputRequired(_l("Enter the name.")), Length(max=100)])
    birth_date = StringField(
        _l("Birth date"),
        validators=[Optional(), Regexp(r"^\d{4}-\d{2}-\d{2}$", message=_l("Write the date as YYYY-MM-DD."))],
        description=_l("YYYY-MM-DD. Ages worked out from it (a photo's date and the birth date) follow it."),
    )
    photo = SelectField(_l("Photo"), choices=[], validators=[Optional()], validate_choice=True)
    photo_age = IntegerField(
        _l("Age in this photo"),
        validators=[Optional(), NumberRange(0, 120, _l("Enter an age between 0 and 120."))],
    )
    submit = SubmitField(_l("Save the correction"))

    def validate_birth_date(self, field: StringField) -> None:
        if field.data:
            try:
                dt.date.fromisoformat(field.data)
            except ValueError:
                raise ValidationError(_l("This date does not exist.")) from None

    def validate_photo_age(self, field: IntegerField) -> None:
        if field.data is not None and not self.photo.data:
            raise ValidationError(_l("Choose the photo whose age you correct."))

    def birth(self) -> dt.date | None:
        return dt.date.fromisoformat(self.birth_date.data) if self.birth_date.data else None


class AuditEventsForm(FlaskForm):
    """The audit-log filter (a GET form: reading the log changes nothing). Dates are KST calendar days."""

    action = SelectField(_l("Action"), choices=[], validate_choice=False)
    actor = StringField(_l("Who acted (id)"), validators=[Optional(), Length(max=40)])
    object = StringField(_l("Object (id)"), validators=[Optional(), Length(max=64)])
    since = DateField(_l("From (KST)"), validators=[Optional()])
    until = DateField(_l("To (KST, inclusive)"), validators=[Optional()])

    def validate_since(self, field: DateField) -> None:
        _plausible(field)

    def validate_until(self, field: DateField) -> None:
        _plausible(field)
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(_l("The end date is before the start date."))


def _plausible(field: DateField) -> None:
    """The audit log starts with datadam: a date outside 2020-2100 is a typing slip (and beyond the calendar's
    ends it cannot become a moment at all)."""
    if field.data and not dt.date(2020, 1, 1) <= field.data <= dt.date(2100, 12, 31):
        raise ValidationError(_l("Give a date between 2020 and 2100."))
