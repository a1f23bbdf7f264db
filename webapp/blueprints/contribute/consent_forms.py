"""Contributor consent forms: signing a notice version (one yes/no per matter, a typed signature, and for a
contributor under 14 the legal representative's name, relationship and typed signature) and withdrawing.

Forms check shape; which matters are required and whether a guardian is needed are the consent service's
rules, which the view maps back onto these fields. Nothing is pre-selected: an optional matter left
unanswered counts as declined, and declining an optional matter never blocks the rest (PIPA Art. 16(3)).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import AnyOf, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from consent.notice import Matter

YES, NO = "yes", "no"
RELATIONSHIPS = [SelectChoice("parent", _l("Parent")), SelectChoice("legal_guardian", _l("Legal guardian"))]


def matter_field(matter: Matter) -> str:
    return f"matter-{matter.id}"


def _normalized(name: str | None) -> str:
    return " ".join(unicodedata.normalize("NFC", name or "").split())


class SignFormBase(FlaskForm):
    version = IntegerField(validators=[InputRequired()])
    language = HiddenField(validators=[AnyOf(["ko", "en"])])
    signature = StringField(
        _l("Your full name, typed as your signature"), validators=[InputRequired(), Length(max=100)]
    )
    guardian_name = StringField(_l("Legal representative's full name"), validators=[Length(max=100)])
    guardian_relationship = SelectField(
        _l("Relationship to you"), choices=[SelectChoice("", _l("Choose…")), *RELATIONSHIPS], validate_choice=False
    )
    guardian_signature = StringField(
        _l("Legal representative's signature (type their full name again)"), validators=[Length(max=100)]
    )
    submit = SubmitField(_l("Sign and agree"))

    under_14 = False  # set per instance by `sign_form`

    def validate_signature(self, field: Field) -> None:
        if not _normalized(field.data):
            raise ValidationError(_l("Type your full name."))

    def validate_guardian_name(self, field: Field) -> None:
        if self.under_14 and not _normalized(field.data):
            raise ValidationError(_l("Needed because you are under 14."))

    def validate_guardian_relationship(self, field: Field) -> None:
        if self.under_14 and field.data not in {choice.value for choice in RELATIONSHIPS}:
            raise ValidationError(_l("Choose the relationship."))

    def validate_guardian_signature(self, field: Field) -> None:
        if not self.under_14:
            return
        if not _normalized(field.data):
            raise ValidationError(_l("Needed because you are under 14."))
        if _normalized(field.data) != _normalized(self.guardian_name.data):
            raise ValidationError(_l("Type the representative's name exactly as above."))

    def decisions(self, matters: Sequence[Matter]) -> dict[str, bool]:
        """Each matter's yes/no; an optional matter left unanswered is declined."""
        return {m.id: self[matter_field(m)].data == YES for m in matters}


def _agreed(form: Any, field: Field) -> None:
    """A required matter: without it the person cannot take part (said with every other problem, not after them)."""
    if field.data != YES:
        raise ValidationError(_l("This consent is needed to take part. Choose “I agree”, or do not take part."))


def sign_form(matters: Sequence[Matter], under_14: bool, data: dict[str, Any] | None = None) -> SignFormBase:
    """The signing form for `matters` (one yes/no radio pair each, nothing pre-selected)."""
    attrs = {
        matter_field(m): RadioField(
            choices=[SelectChoice(YES, _l("I agree")), SelectChoice(NO, _l("I do not agree"))],
            validators=[_agreed] if m.required else [Optional()],
            validate_choice=not m.required,  # an unanswered required matter gets `_agreed`'s words, not "not a choice"
            default=None,
        )
        for m in matters
    }
    form = type("SignForm", (SignFormBase,), attrs)(data=data or {})
    form.under_14 = under_14
    return form


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class WithdrawForm(FlaskForm):
    """Withdraw some matters or all of them, in one post from the page that lists them."""

    matters = MultiCheckboxField(_l("Consents to withdraw"), choices=[], validate_choice=False)
    withdraw_selected = SubmitField(_l("Withdraw the ticked consents"))
    withdraw_all = SubmitField(_l("Withdraw all consents"))
    # Needed (and checked by the view) only when the withdrawal ends a required consent, which erases the photos
    # and recordings at once: one tick in the same form, as giving consent takes ticks, so withdrawing stays no
    # harder than giving while one tap cannot destroy a whole set by accident.
    confirm_erasure = BooleanField(_l("I understand that my photos and recordings in this campaign are erased at once "
                                      "and cannot be recovered."))

    # Needed only when the withdrawal ends the voice recording consent while recordings are held (and no required
    # consent, whose tick above covers them): those recordings are deleted at once, so they are named and counted
    # beforehand and confirmed with a tick, as above.
    confirm_voice_erasure = BooleanField(_l("I understand that my recordings in this campaign are deleted at once and "
                                            "cannot be recovered."))

    back = "overview"  # which page to show the form again on: "overview" (my consents) or "campaign"
    recordings = 0  # recordings held that withdrawing the voice consent would delete (set by the view)

    def validate_matters(self, field: Field) -> None:
        if self.withdraw_selected.data and not self.withdraw_all.data and not field.data:
            raise ValidationError(_l("Tick at least one consent, or withdraw all."))

    def chosen(self) -> list[str] | None:
        """The matters to withdraw; None means every matter in force."""
        return None if self.withdraw_all.data else list(self.matters.data or [])
