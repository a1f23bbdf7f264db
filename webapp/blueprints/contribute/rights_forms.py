"""The contributor's rights-request form: which right, for which campaign (or all), and optional details."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, SelectField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from collection.compliance import RightsKind

KIND_LABELS = {
    RightsKind.ACCESS: _l("See or get a copy of my data"),
    RightsKind.CORRECTION: _l("Correct my data"),
    RightsKind.DELETION: _l("Delete my data"),
    RightsKind.SUSPENSION: _l("Stop processing my data for now"),
}
ACCOUNT_WIDE = "all"


class RightsRequestForm(FlaskForm):
    kind = RadioField(
        _l("What would you like us to do?"),
        choices=[SelectChoice(k.value, label) for k, label in KIND_LABELS.items()],
        validators=[DataRequired()],
    )
    scope = SelectField(_l("For which campaign?"), choices=[], validators=[DataRequired()])
    details = TextAreaField(
        _l("Details (optional)"),
        validators=[Optional(), Length(max=2000)],
        description=_l("For a correction, say what is wrong and what it should be."),
    )
    submit = SubmitField(_l("Send the request"))
