"""Forms of the contributor's set pages and of the matching JSON endpoints: photo uploads (many files at once,
an optional age), replacing one photo, a note for human review or an appeal, a voice recording, and the
CSRF-only buttons (join, remove, submit, export).

Forms check shape only: a file is present, an age is a whole number in range, a note is not too long. Sizes,
formats, duplicates, bracket counts and states are the upload and contribution services' rules. The JSON
endpoints reuse these forms without the in-form CSRF field: the app-wide CSRF check reads the X-CSRFToken
header there before the view runs.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, MultipleFileField
from wtforms import HiddenField, IntegerField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

MAX_NOTE = 1000
MAX_AGE = 120
MAX_FILES_PER_POST = 40


def api_form(form_class: type[FlaskForm], **kwargs: Any) -> Any:
    """A form for a JSON endpoint: no in-form token (the header was checked app-wide)."""
    return form_class(meta={"csrf": False}, **kwargs)


class ActionForm(FlaskForm):
    """A button that only needs the CSRF token (join, remove, submit, export)."""

    submit = SubmitField(_l("Continue"))


def _age_field() -> IntegerField:
    return IntegerField(
        _l("Your age in this photo (optional)"),
        validators=[Optional(), NumberRange(min=0, max=MAX_AGE, message=_l("Enter an age from 0 to 120."))],
    )


class PhotoUploadForm(FlaskForm):
    bracket = HiddenField(validators=[InputRequired(), Length(max=20)])
    photos = MultipleFileField(_l("Photos"))
    age_years = _age_field()
    submit = SubmitField(_l("Upload"))

    def validate_photos(self, field: MultipleFileField) -> None:
        files = [f for f in (field.data or []) if getattr(f, "filename", "")]
        if not files:
            raise ValidationError(_l("Choose one or more photos."))
        if len(files) > MAX_FILES_PER_POST:
            raise ValidationError(_l("Choose at most 40 photos at a time."))
        field.data = files


class ApiPhotoForm(FlaskForm):
    """One photo per request (the page sends each file separately, with its own progress bar)."""

    bracket = StringField(validators=[InputRequired(), Length(max=20)])
    file = FileField(validators=[FileRequired(_l("Choose a photo."))])
    age_years = _age_field()
    replaces = StringField(validators=[Optional(), Length(max=32)])


class ReplaceForm(FlaskForm):
    photo = FileField(_l("New photo"), validators=[FileRequired(_l("Choose a photo."))])
    age_years = _age_field()
    submit = SubmitField(_l("Replace"))


class NoteForm(FlaskForm):
    note = TextAreaField(
        _l("Why do you think this photo is fine?"),
        validators=[
            DataRequired(_l("Write a short note for the person who will check it.")),
            Length(max=MAX_NOTE, message=_l("At most 1000 characters.")),
        ],
    )
    submit = SubmitField(_l("Ask a person to check"))


class AppealForm(FlaskForm):
    note = TextAreaField(
        _l("Why should this decision be changed?"),
        validators=[
            DataRequired(_l("Write a short note for the person who will decide.")),
            Length(max=MAX_NOTE, message=_l("At most 1000 characters.")),
        ],
    )
    submit = SubmitField(_l("Appeal"))


class VoiceUploadForm(FlaskForm):
    audio = FileField(_l("Recording file"), validators=[FileRequired(_l("Choose a recording file."))])
    submit = SubmitField(_l("Upload the recording"))
