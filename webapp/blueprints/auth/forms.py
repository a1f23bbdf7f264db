"""Sign-in and sign-up forms: they check shape (lengths, types); the account service checks the rules."""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError

from collection.accounts.service import MIN_PASSWORD_LENGTH
from webapp.forms_common import LANGUAGE_CHOICES


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class SignupForm(FlaskForm):
    display_name = StringField(_l("Display name"), validators=[DataRequired(), Length(min=1, max=100)])
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    birth_date = DateField(_l("Birth date"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)])
    confirm = PasswordField(
        _l("Repeat password"), validators=[DataRequired(), EqualTo("password", message=_l("Passwords differ."))]
    )
    locale = SelectField(_l("Language"), choices=LANGUAGE_CHOICES, default="ko")
    privacy = BooleanField(_l("I have read the privacy policy"), validators=[DataRequired()])

    def validate_birth_date(self, field: DateField) -> None:
        today = dt.date.today()
        if field.data is None or field.data > today:
            raise ValidationError(_l("Enter a birth date in the past."))
        if field.data.year < today.year - 120:
            raise ValidationError(_l("Enter a real birth date."))
