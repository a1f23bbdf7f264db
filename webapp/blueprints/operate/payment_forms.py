"""Operator forms of payments: marking a payout batch paid asks for an explicit confirmation that the bank
transfer was made (creating a batch and downloading its file need nothing but the CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms.validators import DataRequired


class MarkPaidForm(FlaskForm):
    confirm = BooleanField(
        _l("I confirm the bank transfer of every entry in this batch was made."),
        validators=[DataRequired(_l("Tick the confirmation first."))],
    )
