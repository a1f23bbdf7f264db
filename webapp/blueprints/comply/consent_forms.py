"""Forms of the compliance officer's consent pages (shapes only; the consent service checks the rules)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp


class ResolveFlagForm(FlaskForm):
    """The compliance officer's follow-up of a consent an operator flagged."""

    note = TextAreaField(
        _l("What was done"),
        validators=[DataRequired(message=_l("Say what was done to resolve the flag.")), Length(max=500)],
        description=_l("For example: who was contacted, when, and what was agreed. Kept with the consent record."),
        render_kw={"rows": 2},
    )
    back = HiddenField(validators=[Optional(), Regexp(r"^(flags|subject)$")])
    submit = SubmitField(_l("Mark as resolved"))
