"""Admin forms: creating staff accounts."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length

from collection.accounts.service import MIN_PASSWORD_LENGTH
from webapp.forms_common import LANGUAGE_CHOICES


class StaffForm(FlaskForm):
    display_name = StringField(_l("Display name"), validators=[DataRequired(), Length(max=100)])
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField(
        _l("Role"),
        choices=[
            SelectChoice("operator", _l("Operator")),
            SelectChoice("compliance", _l("Compliance officer")),
            SelectChoice("admin", _l("Admin")),
        ],
    )
    password = PasswordField(_l("Initial password"), validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)])
    locale = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)
