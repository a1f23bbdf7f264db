"""Operator consent forms: the generic notice editor, the diff chooser and the consent review decision.

The notice editor is one form built from a `NoticeLayout` (which matters the draft holds): every bilingual
text becomes a Korean and an English textarea, contacts get name/address/email/phone, and each matter its
summary, full text, data categories and (for a third-party provision) the four Art. 17(2) details. Field names
are derived from the notice's own field paths (``purpose__ko``, ``m1__third_party__recipient__en``), so a
missing item named by `consent.notice.missing_items` lands next to the field it names.

Forms check shape (lengths, slugs, email format); the consent service decides what publishing needs.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, Form, HiddenField, IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import Email, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from consent.notice import (
    LANGUAGES,
    Contact,
    LocalizedText,
    Matter,
    MatterKind,
    MissingItem,
    Notice,
    ThirdPartyProvision,
    custom_matter_name,
)
from webapp.forms_common import LANGUAGE_CHOICES

MAX_TEXT = 20_000
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

GENERAL_TEXTS: tuple[tuple[str, Any], ...] = (
    ("title", _l("Document title")),
    ("purpose", _l("Purpose of collection and use")),
    ("items_collected", _l("Personal information collected")),
    ("retention", _l("Retention and use period")),
    ("right_to_refuse", _l("Right to refuse consent")),
    ("refusal_consequences", _l("What refusing costs")),
    ("legal_basis", _l("Legal basis (GDPR)")),
    ("rights", _l("Rights of the data subject (GDPR)")),
    ("complaint", _l("Right to complain (GDPR)")),
    ("transfers", _l("Transfers abroad (GDPR)")),
)
CONTACTS: tuple[tuple[str, Any], ...] = (("controller", _l("Controller")), ("privacy_officer", _l("Privacy officer")))
THIRD_PARTY_TEXTS: tuple[tuple[str, Any], ...] = (
    ("recipient", _l("Recipient")),
    ("purpose", _l("Recipient's purpose of use")),
    ("items", _l("Items provided")),
    ("retention", _l("Recipient's retention and use period")),
)
LANGUAGE_LABELS = {"ko": _l("Korean"), "en": _l("English")}
KIND_LABELS = {
    MatterKind.COLLECTION_AND_USE: _l("Collection and use of personal information"),
    MatterKind.SENSITIVE_INFORMATION: _l("Sensitive information (biometric features)"),
    MatterKind.THIRD_PARTY_PROVISION: _l("Provision to third parties (dataset release)"),
    MatterKind.VOICE_RECORDING: _l("Voice recordings"),
    MatterKind.CUSTOM: _l("Other optional use"),
}


def kind_label(kind: MatterKind | str) -> str:
    """A consent matter's kind in the reader's language (its code when it is not a kind)."""
    try:
        return str(KIND_LABELS[MatterKind(kind)])
    except ValueError:
        return str(kind)


def matter_name(matter: Matter, lang: str) -> str:
    """A short name for a matter: its kind, or a campaign-specific use's name in `lang` as its consent document
    gives it (`consent.notice.custom_matter_name`)."""
    return custom_matter_name(matter, lang) if matter.kind is MatterKind.CUSTOM else kind_label(matter.kind)


def matter_label(matter: Matter, lang: str) -> str:
    """A matter's name on staff pages: its kind, or "Optional use ‘<its name>’" for a campaign-specific use (its id
    while its summary is blank)."""
    if matter.kind is MatterKind.CUSTOM:
        name = custom_matter_name(matter, lang) if matter.summary.get(lang).strip() else matter.id
        return str(_l("Optional use ‘%(name)s’", name=name))
    return kind_label(matter.kind)


# Labels of the notice paths that name no editor field (the diff lists them too).
_PATH_LABELS: dict[str, Any] = {
    "jurisdictions": _l("Jurisdictions the notice is written for"),
    "collects_voice": _l("Collects voice recordings"),
    "matters.order": _l("Order of the consent matters"),
}
_CONTACT_PARTS: dict[str, Any] = {
    "name": _l("Name"), "address": _l("Address"), "email": _l("Email"), "phone": _l("Phone"),
    "contact": _l("Email or phone"),
}
_MATTER_PARTS: dict[str, Any] = {
    "summary": _l("Short summary"), "full_text": _l("Full text"), "data_categories": _l("Data categories"),
    "kind": _l("Kind"), **{f"third_party.{name}": label for name, label in THIRD_PARTY_TEXTS},
}


def path_label(path: str, matters: Mapping[str, Matter], lang: str) -> str:
    """A notice field path (``controller.phone``, ``matters.followup.data_categories``) as staff read it, e.g.
    "Controller — Phone" or "Optional use ‘Follow-up’ — Data categories"; `matters` (by id) name the matters.
    A path it does not know is returned as it is."""
    general = dict(GENERAL_TEXTS)
    if path in _PATH_LABELS or path in general:
        return str(_PATH_LABELS.get(path) or general[path])
    head, _dot, rest = path.partition(".")
    if head in dict(CONTACTS) and rest in _CONTACT_PARTS:
        return f"{dict(CONTACTS)[head]} — {_CONTACT_PARTS[rest]}"
    if head == "matters" and rest:
        matter_id, _dot, part = rest.partition(".")
        matter = matters.get(matter_id)
        name = matter_label(matter, lang) if matter else kind_label(matter_id)
        if not part:
            return name
        return f"{name} — {_MATTER_PARTS[part]}" if part in _MATTER_PARTS else f"{name} — {part}"
    return path


# --- layout ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextSlot:
    """One bilingual text of the notice: its path (as `missing_items` names it), field prefix and label."""

    path: str
    prefix: str
    label: Any
    rows: int = 3

    def field_name(self, lang: str) -> str:
        return f"{self.prefix}__{lang}"


@dataclass(frozen=True)
class MatterSlots:
    index: int
    matter: Matter
    texts: tuple[TextSlot, ...]

    @property
    def categories_field(self) -> str:
        return f"m{self.index}__data_categories"


@dataclass(frozen=True)
class NoticeLayout:
    """Which fields the editor shows for a notice with these matters."""

    general: tuple[TextSlot, ...]
    matters: tuple[MatterSlots, ...]

    @classmethod
    def of(cls, notice: Notice) -> NoticeLayout:
        general = [TextSlot(name, name, label, 2 if name == "title" else 4) for name, label in GENERAL_TEXTS]
        return cls(tuple(general), tuple(_matter_slots(i, m) for i, m in enumerate(notice.matters)))

    def text_slots(self) -> Iterator[TextSlot]:
        yield from self.general
        for name, label in CONTACTS:
            yield TextSlot(f"{name}.name", f"{name}__name", label, 1)
            yield TextSlot(f"{name}.address", f"{name}__address", _l("Address"), 1)
        for matter in self.matters:
            yield from matter.texts


def _matter_slots(index: int, matter: Matter) -> MatterSlots:
    path, prefix = f"matters.{matter.id}", f"m{index}"
    texts = [
        TextSlot(f"{path}.summary", f"{prefix}__summary", _l("Short summary"), 2),
        TextSlot(f"{path}.full_text", f"{prefix}__full_text", _l("Full text"), 8),
    ]
    if matter.kind is MatterKind.THIRD_PARTY_PROVISION:
        for name, label in THIRD_PARTY_TEXTS:
            texts.append(TextSlot(f"{path}.third_party.{name}", f"{prefix}__third_party__{name}", label, 2))
    return MatterSlots(index, matter, tuple(texts))


# --- the editor form ---------------------------------------------------------------------------------------


def _slug_list(form: Form, field: Field) -> None:
    codes = [c.strip() for c in (field.data or "").split(",") if c.strip()]
    if any(not _SLUG.fullmatch(c) for c in codes) or len(set(codes)) != len(codes):
        raise ValidationError(_l("Use distinct lower-case codes separated by commas, e.g. face_image, birth_date."))


class NoticeFormBase(FlaskForm):
    save = SubmitField(_l("Save draft"))
    publish = SubmitField(_l("Save and publish"))


def notice_form(layout: NoticeLayout, data: Mapping[str, str] | None = None) -> NoticeFormBase:
    """An editor form for `layout`, prefilled with `data` (on a POST the submitted values win)."""
    attrs: dict[str, Any] = {}
    for slot in layout.text_slots():
        for lang in LANGUAGES:
            attrs[slot.field_name(lang)] = TextAreaField(
                LANGUAGE_LABELS[lang], validators=[Optional(), Length(max=MAX_TEXT)], render_kw={"rows": slot.rows}
            )
    for name, _label in CONTACTS:
        attrs[f"{name}__email"] = StringField(_l("Email"), validators=[Optional(), Email(), Length(max=254)])
        attrs[f"{name}__phone"] = StringField(
            _l("Phone"), validators=[Optional(), Length(max=40), Regexp(r"^[0-9+()\- .]+$")]
        )
    for matter in layout.matters:
        attrs[matter.categories_field] = StringField(
            _l("Data categories"), validators=[Optional(), Length(max=1000), _slug_list]
        )
    form_class = type("NoticeForm", (NoticeFormBase,), attrs)
    return form_class(data=dict(data or {}))


def notice_formdata(notice: Notice, layout: NoticeLayout) -> dict[str, str]:
    """The editor's field values for `notice`."""
    data: dict[str, str] = {}
    for slot in layout.text_slots():
        text = _text_at(notice, slot.path)
        for lang in LANGUAGES:
            data[slot.field_name(lang)] = text.get(lang)
    for name, _label in CONTACTS:
        contact: Contact = getattr(notice, name)
        data[f"{name}__email"], data[f"{name}__phone"] = contact.email, contact.phone
    for matter in layout.matters:
        data[matter.categories_field] = ", ".join(matter.matter.data_categories)
    return data


def notice_from_form(form: NoticeFormBase, layout: NoticeLayout, base: Notice) -> Notice:
    """`base` with every field the editor shows replaced by the submitted values (matters keep their ids and
    kinds). Raises NoticeFormatError if the result is structurally impossible."""

    def text(prefix: str) -> LocalizedText:
        return LocalizedText(**{lang: (form[f"{prefix}__{lang}"].data or "") for lang in LANGUAGES})

    values: dict[str, Any] = {name: text(name) for name, _label in GENERAL_TEXTS}
    for name, _label in CONTACTS:
        values[name] = Contact(
            name=text(f"{name}__name"),
            address=text(f"{name}__address"),
            email=(form[f"{name}__email"].data or "").strip(),
            phone=(form[f"{name}__phone"].data or "").strip(),
        )
    values["matters"] = tuple(_matter_from_form(form, slots, text) for slots in layout.matters)
    return dataclasses.replace(base, **values)


def _matter_from_form(form: NoticeFormBase, slots: MatterSlots, text: Any) -> Matter:
    prefix = f"m{slots.index}"
    categories = tuple(c.strip() for c in (form[slots.categories_field].data or "").split(",") if c.strip())
    third_party = None
    if slots.matter.kind is MatterKind.THIRD_PARTY_PROVISION:
        third_party = ThirdPartyProvision(
            **{name: text(f"{prefix}__third_party__{name}") for name, _ in THIRD_PARTY_TEXTS}
        )
    return dataclasses.replace(
        slots.matter,
        summary=text(f"{prefix}__summary"),
        full_text=text(f"{prefix}__full_text"),
        data_categories=categories,
        third_party=third_party,
    )


def _text_at(notice: Notice, path: str) -> LocalizedText:
    parts = path.split(".")
    if parts[0] == "matters":
        matter = notice.matter(parts[1])
        value: Any = matter.third_party if parts[2] == "third_party" else matter
        name = parts[3] if parts[2] == "third_party" else parts[2]
        return getattr(value or ThirdPartyProvision(), name)
    value = notice
    for part in parts:
        value = getattr(value, part)
    return value


# --- missing items next to their fields --------------------------------------------------------------------


def field_for_missing(item: MissingItem, layout: NoticeLayout) -> str | None:
    """The name of the editor field `item` is about, or None when no field holds it (a missing matter)."""
    if item.path in ("controller.contact", "privacy_officer.contact"):
        return item.path.replace(".contact", "__email")
    for matter in layout.matters:
        if item.path == f"matters.{matter.matter.id}.data_categories":
            return matter.categories_field
    for slot in layout.text_slots():
        if slot.path == item.path and item.language is not None:
            return slot.field_name(item.language)
    return None


def slot_label(path: str, layout: NoticeLayout) -> str:
    """The human label of a notice path, for the lists of missing and updated items: which field, and of which
    contact or matter (never the path itself)."""
    matters = {slots.matter.id: slots.matter for slots in layout.matters}
    return path_label(path, matters, str(get_locale() or "ko"))


# --- diff and review ---------------------------------------------------------------------------------------


class CustomMatterForm(FlaskForm):
    """A campaign-specific optional use, added to the draft as its own matter (texts are then edited above)."""

    matter_id = StringField(
        _l("Code (in receipts)"),
        validators=[InputRequired(), Length(max=64), Regexp(_SLUG.pattern + "$", message=_l(
            "Use lower-case letters, digits, '-' and '_', starting with a letter or digit."))],
    )
    summary_ko = StringField(_l("What it is for (Korean)"), validators=[InputRequired(), Length(max=500)])
    summary_en = StringField(_l("What it is for (English)"), validators=[InputRequired(), Length(max=500)])


class DiffForm(Form):
    """Which two versions to compare, in which language (a GET form: no CSRF needed, nothing changes)."""

    old = IntegerField(_l("From version"), validators=[InputRequired(), NumberRange(min=1)])
    new = IntegerField(_l("To version"), validators=[InputRequired(), NumberRange(min=1)])
    lang = SelectField(_l("Language"), choices=LANGUAGE_CHOICES, default="ko")


class ReviewForm(FlaskForm):
    note = TextAreaField(_l("Reason (needed to flag)"), validators=[Optional(), Length(max=500)], render_kw={"rows": 2})
    approve = SubmitField(_l("Approve"))
    flag = SubmitField(_l("Flag"))


class PublishForm(FlaskForm):
    """The confirmation of publishing a draft; `digest` names the draft text that was shown."""

    digest = HiddenField(validators=[InputRequired(), Length(max=64)])
    submit = SubmitField(_l("Publish and ask for consent again"))
