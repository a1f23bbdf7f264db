"""The contributor's payout-account form: bank (from the fixed list), account holder and account number.

The form checks shape (a listed bank, a holder name of sensible length, digits with optional hyphens and 10 to
16 digits); the payment service normalises the number and checks the same rules again before storing it."""

from __future__ import annotations

from typing import Any

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import AnyOf, DataRequired, Length, ValidationError

from collection.payments.banks import BANKS, MAX_DIGITS, MIN_DIGITS, account_number_problem
from collection.payments.service import HOLDER_NAME_MAX


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class PayoutAccountForm(FlaskForm):
    bank = SelectField(
        _l("Bank"),
        choices=[],
        validate_choice=False,  # AnyOf below says it in our words
        validators=[
            DataRequired(_l("Choose your bank.")),
            AnyOf([b.code for b in BANKS], message=_l("Choose your bank from the list.")),
        ],
    )
    holder_name = StringField(
        _l("Account holder"),
        filters=[_strip],
        validators=[
            DataRequired(_l("Enter the account holder's name.")),
            Length(max=HOLDER_NAME_MAX, message=_l("The name is too long (at most 100 characters).")),
        ],
        description=_l("The name the bank has for this account."),
    )
    account_number = StringField(
        _l("Account number"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter the account number."))],
        description=_l("Digits, with or without hyphens (10 to 16 digits)."),
    )
    submit = SubmitField(_l("Save the payout account"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        locale = str(get_locale() or "ko")
        self.bank.choices = [SelectChoice("", _l("Choose your bank"))] + [
            SelectChoice(b.code, f"{b.name(locale)} ({b.code})") for b in BANKS
        ]

    def validate_account_number(self, field: StringField) -> None:
        problem = account_number_problem(field.data or "")
        if problem == "characters":
            raise ValidationError(_l("Use digits and hyphens only."))
        if problem == "length":
            raise ValidationError(
                _l("An account number has %(min)d to %(max)d digits.", min=MIN_DIGITS, max=MAX_DIGITS)
            )
