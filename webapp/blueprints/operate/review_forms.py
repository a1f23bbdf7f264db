"""Operator forms of full inspection: one decision per photo of a set (accept, or reject with a coded reason and
a comment), sent as one form; and the answer to an appeal. Shapes are checked here so each error sits next to
its photo; the review service checks the same rules again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Form, FormField, RadioField, SelectChoice, SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from collection.contributions.models import Photo, PhotoState
from collection.review.models import RejectReason
from collection.review.service import PhotoVerdict

REASON_LABELS = {
    RejectReason.FACE_TOO_SMALL: _l("Face too small"),
    RejectReason.OCCLUDED: _l("Face covered (mask, sunglasses, hand)"),
    RejectReason.DIFFERENT_PERSON: _l("A different person"),
    RejectReason.WRONG_BRACKET: _l("Wrong age bracket"),
    RejectReason.BLURRED: _l("Blurred"),
    RejectReason.DUPLICATE: _l("Duplicate of another photo"),
    RejectReason.SCREEN_OR_PRINT: _l("Photo of a screen or a print"),
    RejectReason.EDITED: _l("Edited or filtered"),
    RejectReason.OTHER: _l("Other (explain in the comment)"),
}
COMMENT_MAX = 1000
ANSWER_MAX = 500


def reason_label(code: str | None) -> str:
    """The operator-language label of a stored reason code (the code itself if it is not in the taxonomy)."""
    if code is None:
        return ""
    try:
        return str(REASON_LABELS[RejectReason(code)])
    except ValueError:
        return code


class PhotoDecisionForm(Form):
    """The decision on one photo (nested in the set's form, which carries the CSRF token)."""

    decision = RadioField(
        _l("Decision"),
        choices=[SelectChoice("accept", _l("Accept")), SelectChoice("reject", _l("Reject"))],
        validators=[Optional()],
    )
    reason = SelectField(
        _l("Reason"),
        choices=[SelectChoice("", _l("Choose a reason"))]
        + [SelectChoice(r.value, lbl) for r, lbl in REASON_LABELS.items()],
        default="",
    )
    comment = TextAreaField(_l("Comment"), validators=[Length(max=COMMENT_MAX)])
    required = True  # set per photo: False for a photo accepted in an earlier round

    def validate_reason(self, field: SelectField) -> None:
        if self.decision.data == "reject" and not field.data:
            raise ValidationError(_l("Choose a reason for the rejection."))

    def validate_comment(self, field: TextAreaField) -> None:
        if self.decision.data == "reject" and self.reason.data == "other" and not (field.data or "").strip():
            raise ValidationError(_l("Explain the reason 'other' in a comment."))

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if self.required and not self.decision.data:
            self.decision.errors = [*self.decision.errors, _l("Accept or reject this photo.")]
            return False
        return ok

    def verdict(self, photo_id: str) -> PhotoVerdict:
        if self.decision.data == "accept":
            return PhotoVerdict(photo_id, True)
        comment = (self.comment.data or "").strip() or None
        return PhotoVerdict(photo_id, False, RejectReason(self.reason.data), comment)


class SetDecisionForm(FlaskForm):
    """Built per set by `set_decision_form`: one `PhotoDecisionForm` per photo, named `p_<photo id>`."""

    photo_ids: tuple[str, ...] = ()

    def photo(self, photo_id: str) -> PhotoDecisionForm:
        sub: PhotoDecisionForm = self[field_name(photo_id)].form
        return sub

    def verdicts(self, every_photo: bool) -> list[PhotoVerdict]:
        """The verdicts to record. A photo accepted in an earlier round is decided again only when it is now
        rejected, or when `every_photo` (a second review records the second reviewer's decision on each)."""
        verdicts = []
        for photo_id in self.photo_ids:
            sub = self.photo(photo_id)
            if sub.decision.data and (sub.required or every_photo or sub.decision.data == "reject"):
                verdicts.append(sub.verdict(photo_id))
        return verdicts


def field_name(photo_id: str) -> str:
    return f"p_{photo_id}"


def set_decision_form(photos: Sequence[Photo]) -> SetDecisionForm:
    """A form with one decision per photo (filled from the request when it is a post). Photos accepted in an
    earlier round start as accepted and need no new decision; every other photo must be accepted or rejected
    explicitly: nothing is preselected."""

    class _Form(SetDecisionForm):
        pass

    for photo in photos:
        setattr(_Form, field_name(photo.id), FormField(PhotoDecisionForm, label=photo.bracket))
    data = {field_name(p.id): {"decision": "accept"} for p in photos if p.state is PhotoState.ACCEPTED}
    form = _Form(data=data)
    form.photo_ids = tuple(p.id for p in photos)
    for photo in photos:
        form.photo(photo.id).required = photo.state is not PhotoState.ACCEPTED
    return form


class AppealDecisionForm(FlaskForm):
    outcome = RadioField(
        _l("Decision on the appeal"),
        choices=[
            SelectChoice("uphold", _l("Uphold: the rejection stands")),
            SelectChoice("overturn", _l("Overturn: accept the photo")),
        ],
        validators=[InputRequired(_l("Choose uphold or overturn."))],
    )
    answer = TextAreaField(_l("Answer to the contributor"), validators=[Length(max=ANSWER_MAX)])

    def validate_answer(self, field: TextAreaField) -> None:
        if self.outcome.data == "uphold" and not (field.data or "").strip():
            raise ValidationError(_l("Say why the rejection stands: the contributor reads this answer."))


def appeal_form(appeal_id: str, submitted: bool = False) -> AppealDecisionForm:
    """Each appeal on the page has its own form (the prefix keeps their field ids apart); only the one that was
    posted reads the request."""
    prefix = f"a_{appeal_id}"
    return AppealDecisionForm(prefix=prefix) if submitted else AppealDecisionForm(formdata=None, prefix=prefix)
