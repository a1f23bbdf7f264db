"""One version of a campaign's consent notice: its content, completeness, exact rendering, hash and diff.

A `Notice` holds, in Korean and English, everything PIPA Art. 15(2)/17(2)/22/23 and GDPR Art. 13 require a
contributor to be told before consenting, plus the typed consent matters, each with its own yes/no. It is
frozen: once published a version never changes; a change is a new version (see STANDARDS.md).

* Constructing a `Notice` checks only its shape (`NoticeFormatError`): an operator's draft may be incomplete.
* `missing_items` lists what publishing still needs, per language; `require_publishable` raises with it.
* `render_text` is the exact text shown to a contributor in one language, deterministic byte for byte;
  `notice_sha256` hashes it (UTF-8) and is what receipts carry. The signing page must show these same strings
  (`notice_sections` gives them section by section, for the layered display).
* `diff_notices` explains to an operator what changed between two versions.
* `notice_to_dict` / `notice_from_dict` store a notice as plain JSON-ready data.

Which items are required: for every notice the PIPA set (title, controller identity and contact, privacy
officer contact, purpose, items collected, retention period, right to refuse, what refusing costs; for a
third-party-provision matter its recipient, the recipient's purpose, items and retention). When the notice is
drafted for the EU as well (``"EU" in jurisdictions``), the GDPR Art. 13 additions too: legal basis, rights,
right to complain, transfers.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from consent.canonical import sha256_hex
from consent.errors import NoticeFormatError, NoticeIncompleteError

LANGUAGES: tuple[str, ...] = ("ko", "en")
JURISDICTIONS: tuple[str, ...] = ("KR", "EU")
NOTICE_SCHEMA = 1
# Edition 2: the sensitive-information matter is "biometric features" (edition 1 said "face and voice features",
# wrong for a photo-only campaign), as every other page names it.
# Edition 3: a campaign-specific optional use is headed by its own summary (not "Other optional use"), and the right
# to refuse names each such use, so a contributor knows what else may be declined.
CURRENT_WORDING = 3
WORDINGS = (1, 2, 3)

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@dataclass(frozen=True)
class LocalizedText:
    """The same text in each supported language; blank means not written yet."""

    ko: str = ""
    en: str = ""

    def __post_init__(self) -> None:
        for lang in LANGUAGES:
            if not isinstance(getattr(self, lang), str):
                raise NoticeFormatError(f"{lang} text must be a string")

    def get(self, lang: str) -> str:
        """The text in `lang`. Raises NoticeFormatError for an unsupported language."""
        return getattr(self, _check_language(lang))

    def is_blank(self, lang: str) -> bool:
        return not self.get(lang).strip()


_EMPTY = LocalizedText()


@dataclass(frozen=True, kw_only=True)
class Contact:
    """An organisation or officer: name (with title), postal address, and email/phone to reach them."""

    name: LocalizedText = _EMPTY
    address: LocalizedText = _EMPTY
    email: str = ""
    phone: str = ""

    @property
    def reachable(self) -> bool:
        """True when there is at least one way to contact (email or phone)."""
        return bool(self.email.strip() or self.phone.strip())


@dataclass(frozen=True, kw_only=True)
class ThirdPartyProvision:
    """What PIPA Art. 17(2) requires for a provision to a third party (the dataset release to licensees)."""

    recipient: LocalizedText = _EMPTY
    purpose: LocalizedText = _EMPTY
    items: LocalizedText = _EMPTY
    retention: LocalizedText = _EMPTY


class MatterKind(StrEnum):
    """The typed consent matters; each is shown on its own with its own yes/no."""

    COLLECTION_AND_USE = "collection_and_use"
    SENSITIVE_INFORMATION = "sensitive_information"
    THIRD_PARTY_PROVISION = "third_party_provision"
    VOICE_RECORDING = "voice_recording"
    CUSTOM = "custom"

    @property
    def required(self) -> bool:
        """Collection/use and sensitive information are required to take part; the rest are optional."""
        return self in (MatterKind.COLLECTION_AND_USE, MatterKind.SENSITIVE_INFORMATION)


# Kinds a notice may hold at most once (third-party provision and custom uses may repeat).
_SINGLE_KINDS = (MatterKind.COLLECTION_AND_USE, MatterKind.SENSITIVE_INFORMATION, MatterKind.VOICE_RECORDING)


@dataclass(frozen=True, kw_only=True)
class Matter:
    """One consent matter: a stable id within the document, its kind, a short summary and the full text.

    `data_categories` are language-neutral codes (e.g. ``face_image``, ``face_features``, ``birth_year``) that
    receipts list as the PII categories of the matter. `third_party` is required for, and only allowed on,
    a third-party-provision matter.
    """

    id: str
    kind: MatterKind
    summary: LocalizedText = _EMPTY
    full_text: LocalizedText = _EMPTY
    data_categories: tuple[str, ...] = ()
    third_party: ThirdPartyProvision | None = None

    def __post_init__(self) -> None:
        path = f"matters.{self.id}"
        if not isinstance(self.id, str) or not _SLUG.fullmatch(self.id):
            raise NoticeFormatError("a matter id is a lower-case slug (a-z, 0-9, '-', '_')", f"{path}.id")
        object.__setattr__(self, "kind", _enum(MatterKind, self.kind, f"{path}.kind"))
        object.__setattr__(self, "data_categories", _slugs(self.data_categories, f"{path}.data_categories"))
        if self.third_party is not None and self.kind is not MatterKind.THIRD_PARTY_PROVISION:
            raise NoticeFormatError("only a third_party_provision matter has third-party details", path)

    @property
    def required(self) -> bool:
        return self.kind.required


@dataclass(frozen=True, kw_only=True)
class Notice:
    """One version of a campaign's consent document (see the module docstring for what is required)."""

    campaign: str
    version: int
    title: LocalizedText = _EMPTY
    controller: Contact = field(default_factory=Contact)
    privacy_officer: Contact = field(default_factory=Contact)
    purpose: LocalizedText = _EMPTY
    items_collected: LocalizedText = _EMPTY
    retention: LocalizedText = _EMPTY
    right_to_refuse: LocalizedText = _EMPTY
    refusal_consequences: LocalizedText = _EMPTY
    legal_basis: LocalizedText = _EMPTY
    rights: LocalizedText = _EMPTY
    complaint: LocalizedText = _EMPTY
    transfers: LocalizedText = _EMPTY
    matters: tuple[Matter, ...] = ()
    jurisdictions: tuple[str, ...] = ("KR",)
    collects_voice: bool = False
    # The edition of the fixed labels (headings) the text is rendered with. A published version keeps the edition
    # it was published with, so its text and hash never change; new notices take the current one. Stored notices
    # from before editions existed are edition 1.
    wording: int = CURRENT_WORDING

    def __post_init__(self) -> None:
        if not isinstance(self.campaign, str) or not _SLUG.fullmatch(self.campaign):
            raise NoticeFormatError("the campaign is a lower-case slug", "campaign")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise NoticeFormatError("the version is a positive integer", "version")
        object.__setattr__(self, "matters", tuple(self.matters))
        object.__setattr__(self, "jurisdictions", _jurisdictions(self.jurisdictions))
        _check_field_types(self)
        if isinstance(self.wording, bool) or self.wording not in WORDINGS:
            raise NoticeFormatError(f"the wording edition is one of {WORDINGS}", "wording")
        _check_matters(self.matters, self.collects_voice)

    @property
    def version_id(self) -> str:
        """The stable, human-readable id of this version, e.g. ``faces-2025@v3``; receipts carry it."""
        return f"{self.campaign}@v{self.version}"

    def matter(self, matter_id: str) -> Matter:
        """The matter with id `matter_id`. Raises KeyError."""
        for matter in self.matters:
            if matter.id == matter_id:
                return matter
        raise KeyError(matter_id)

    def __repr__(self) -> str:
        return f"Notice({self.version_id!r}, matters={[m.id for m in self.matters]!r})"


@dataclass(frozen=True)
class MissingItem:
    """One thing publishing needs: `path` names the field (e.g. ``matters.release.third_party.recipient``),
    `language` the language it is missing in (None for language-neutral items), `message` says what to add."""

    path: str
    language: str | None
    message: str

    def __str__(self) -> str:
        where = f" [{self.language}]" if self.language else ""
        return f"{self.path}{where}: {self.message}"


@dataclass(frozen=True)
class NoticeSection:
    """One section of the rendered notice: a stable key (a field path), its heading and its body."""

    key: str
    heading: str
    body: str


class ChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    MODIFIED = "modified"


@dataclass(frozen=True)
class NoticeChange:
    """One changed field or matter between two versions, in one language (old/new None when absent)."""

    path: str
    kind: ChangeKind
    old: str | None
    new: str | None


@dataclass(frozen=True)
class NoticeDiff:
    """What changed from `old_version_id` to `new_version_id` in `language`: a structured list of changes
    (matters matched by id) and a unified diff of the rendered texts."""

    old_version_id: str
    new_version_id: str
    language: str
    changes: tuple[NoticeChange, ...]
    unified: str

    @property
    def is_empty(self) -> bool:
        return not self.changes and not self.unified


# --- completeness ------------------------------------------------------------------------------------------

_PIPA_FIELDS = {
    "title": "the document title",
    "purpose": "the purpose of collection and use",
    "items_collected": "the personal information items collected",
    "retention": "the retention and use period",
    "right_to_refuse": "the right to refuse consent",
    "refusal_consequences": "what refusing costs (the disadvantage, if any)",
}
_GDPR_FIELDS = {
    "legal_basis": "the legal basis of the processing (GDPR Art. 13(1)(c))",
    "rights": "the contributor's rights (GDPR Art. 13(2)(b))",
    "complaint": "the right to complain to a supervisory authority (GDPR Art. 13(2)(d))",
    "transfers": "transfers to third countries, or that there are none (GDPR Art. 13(1)(f))",
}
_THIRD_PARTY_FIELDS = {
    "recipient": "who receives the data",
    "purpose": "the recipient's purpose of use",
    "items": "the items provided",
    "retention": "the recipient's retention and use period",
}


def missing_items(notice: Notice) -> list[MissingItem]:
    """Everything `notice` lacks for publishing, per language, in a stable order (empty = publishable)."""
    missing = list(_missing_parties(notice))
    required_fields = _PIPA_FIELDS | (_GDPR_FIELDS if "EU" in notice.jurisdictions else {})
    for name, what in required_fields.items():
        missing += _blank(getattr(notice, name), name, f"add {what}")
    missing += _missing_matter_kinds(notice)
    for matter in notice.matters:
        missing += _missing_in_matter(matter)
    return missing


def require_publishable(notice: Notice) -> None:
    """Raise NoticeIncompleteError (carrying every missing item) unless `notice` is complete."""
    missing = missing_items(notice)
    if missing:
        raise NoticeIncompleteError(missing)


def _missing_parties(notice: Notice) -> Iterator[MissingItem]:
    for name, who in (("controller", "the controller"), ("privacy_officer", "the privacy officer")):
        contact: Contact = getattr(notice, name)
        yield from _blank(contact.name, f"{name}.name", f"add the name of {who}")
        if not contact.reachable:
            yield MissingItem(f"{name}.contact", None, f"add an email or phone number for {who}")


def _missing_matter_kinds(notice: Notice) -> Iterator[MissingItem]:
    kinds = {matter.kind for matter in notice.matters}
    needed = [MatterKind.COLLECTION_AND_USE, MatterKind.SENSITIVE_INFORMATION]
    if notice.collects_voice:
        needed.append(MatterKind.VOICE_RECORDING)
    for kind in needed:
        if kind not in kinds:
            yield MissingItem(f"matters.{kind.value}", None, f"add a {kind.value} consent matter")


def _missing_in_matter(matter: Matter) -> Iterator[MissingItem]:
    path = f"matters.{matter.id}"
    yield from _blank(matter.summary, f"{path}.summary", "add a short summary")
    yield from _blank(matter.full_text, f"{path}.full_text", "add the full text")
    if not matter.data_categories:
        yield MissingItem(f"{path}.data_categories", None, "list the data categories (e.g. face_image)")
    if matter.kind is MatterKind.THIRD_PARTY_PROVISION:
        provision = matter.third_party or ThirdPartyProvision()
        for name, what in _THIRD_PARTY_FIELDS.items():
            yield from _blank(getattr(provision, name), f"{path}.third_party.{name}", f"add {what}")


def _blank(text: LocalizedText, path: str, message: str) -> Iterator[MissingItem]:
    for lang in LANGUAGES:
        if text.is_blank(lang):
            yield MissingItem(path, lang, message)


# --- rendering ---------------------------------------------------------------------------------------------

_LABELS: dict[str, dict[str, str]] = {
    "ko": {
        "document": "동의서 {campaign} 버전 {version}",
        "controller": "개인정보처리자",
        "privacy_officer": "개인정보 보호책임자",
        "address": "주소",
        "email": "이메일",
        "phone": "전화",
        "purpose": "수집·이용 목적",
        "items_collected": "수집하는 개인정보 항목",
        "retention": "보유 및 이용 기간",
        "right_to_refuse": "동의를 거부할 권리",
        "refusal_consequences": "동의 거부에 따른 불이익",
        "legal_basis": "처리의 법적 근거",
        "rights": "정보주체의 권리",
        "complaint": "불만 제기 권리",
        "transfers": "국외 이전",
        "matter": "동의 사항 {number}: {kind} ({required})",
        "required": "필수",
        "optional": "선택",
        "summary": "요약",
        "recipient": "제공받는 자",
        "recipient_purpose": "제공받는 자의 이용 목적",
        "recipient_items": "제공하는 항목",
        "recipient_retention": "제공받는 자의 보유 및 이용 기간",
        "collection_and_use": "개인정보 수집·이용",
        "sensitive_information": "민감정보(얼굴·음성 특징정보) 처리",
        "sensitive_information@2": "민감정보(생체 특징정보) 처리",
        "third_party_provision": "개인정보 제3자 제공",
        "voice_recording": "음성 녹음 수집·이용",
        "custom": "기타 선택 이용",
        "custom_refusal@3": "다음 선택 이용에 대한 동의도 각각 거부할 수 있습니다: {uses}.",
    },
    "en": {
        "document": "Consent document {campaign}, version {version}",
        "controller": "Controller",
        "privacy_officer": "Privacy officer",
        "address": "Address",
        "email": "Email",
        "phone": "Phone",
        "purpose": "Purpose of collection and use",
        "items_collected": "Personal information collected",
        "retention": "Retention and use period",
        "right_to_refuse": "Your right to refuse consent",
        "refusal_consequences": "What refusing means for you",
        "legal_basis": "Legal basis of the processing",
        "rights": "Your rights",
        "complaint": "Your right to complain",
        "transfers": "Transfers abroad",
        "matter": "Consent {number}: {kind} ({required})",
        "required": "required",
        "optional": "optional",
        "summary": "Summary",
        "recipient": "Recipient",
        "recipient_purpose": "Recipient's purpose of use",
        "recipient_items": "Items provided",
        "recipient_retention": "Recipient's retention and use period",
        "collection_and_use": "Collection and use of personal information",
        "sensitive_information": "Processing of sensitive information (face and voice features)",
        "sensitive_information@2": "Processing of sensitive information (biometric features)",
        "third_party_provision": "Provision to a third party",
        "voice_recording": "Collection and use of voice recordings",
        "custom": "Other optional use",
        "custom_refusal@3": "You may also refuse each of these optional uses separately: {uses}.",
    },
}
_TEXT_SECTIONS = (
    "purpose",
    "items_collected",
    "retention",
    "right_to_refuse",
    "refusal_consequences",
    "legal_basis",
    "rights",
    "complaint",
    "transfers",
)


def notice_sections(notice: Notice, lang: str) -> tuple[NoticeSection, ...]:
    """The notice in `lang`, section by section, exactly as `render_text` joins them.

    Blank optional sections are left out; every text is normalised (NFC, ``\\n`` line ends, no trailing
    spaces). Raises NoticeFormatError for an unsupported language.
    """
    labels = _LABELS[_check_language(lang)]
    header = labels["document"].format(campaign=notice.campaign, version=notice.version)
    sections = [NoticeSection("title", _clean(notice.title.get(lang)), _clean(header))]
    for name in ("controller", "privacy_officer"):
        sections.append(NoticeSection(name, labels[name], _contact_body(getattr(notice, name), lang)))
    for name in _TEXT_SECTIONS:
        text: LocalizedText = getattr(notice, name)
        if not text.is_blank(lang):
            body = text.get(lang) + (_custom_refusal(notice, lang) if name == "right_to_refuse" else "")
            sections.append(NoticeSection(name, labels[name], _clean(body)))
    for number, matter in enumerate(notice.matters, start=1):
        sections.append(_matter_section(matter, number, lang, notice.wording))
    return tuple(sections)


def render_text(notice: Notice, lang: str) -> str:
    """The exact, deterministic text of `notice` shown in `lang` (what `notice_sha256` hashes)."""
    blocks = [f"{s.heading}\n{s.body}".strip("\n") for s in notice_sections(notice, lang)]
    return "\n\n".join(blocks) + "\n"


def notice_sha256(notice: Notice, lang: str) -> str:
    """Hex SHA-256 of the UTF-8 bytes of `render_text(notice, lang)`."""
    return sha256_hex(render_text(notice, lang).encode("utf-8"))


def _contact_body(contact: Contact, lang: str) -> str:
    labels = _LABELS[lang]
    lines = [contact.name.get(lang)]
    values = {"address": contact.address.get(lang), "email": contact.email, "phone": contact.phone}
    for label, value in values.items():
        if value.strip():
            lines.append(f"{labels[label]}: {value}")
    return _clean("\n".join(lines))


def _label(labels: Mapping[str, str], key: str, wording: int) -> str:
    """`key`'s label in the newest edition up to `wording` that changed it."""
    for edition in range(wording, 1, -1):
        if f"{key}@{edition}" in labels:
            return labels[f"{key}@{edition}"]
    return labels[key]


# The longest name of a campaign-specific use (`custom_matter_name`), "…" included.
CUSTOM_NAME_MAX = 40
# What a name does not end with: sentence and list punctuation (Latin, CJK full-width) and dashes.
_NAME_END = " \t.,;:!?·…-–—。、，．：；！？"


def custom_matter_name(matter: Matter, lang: str) -> str:
    """The short name of a campaign-specific use (`MatterKind.CUSTOM`) in `lang`, the one name every page and the
    notice (from wording edition 3: its heading and the right to refuse) give it: the first line of its summary
    without closing punctuation, at most CUSTOM_NAME_MAX characters (a longer one is cut at a word boundary and
    ends with "…"). Its kind's label when the summary is blank."""
    first = _clean(matter.summary.get(lang)).split("\n")[0].strip().rstrip(_NAME_END)
    if not first:
        return _LABELS[lang][matter.kind.value]
    if len(first) <= CUSTOM_NAME_MAX:
        return first
    room = first[: CUSTOM_NAME_MAX - 1]
    space = room.rfind(" ")
    head = room[:space] if space >= CUSTOM_NAME_MAX // 2 else room  # no usable word boundary: cut mid-word
    return head.rstrip(_NAME_END) + "…"


def _custom_refusal(notice: Notice, lang: str) -> str:
    """From edition 3: the sentence added to the right to refuse that names each campaign-specific use."""
    uses = [custom_matter_name(m, lang) for m in notice.matters if m.kind is MatterKind.CUSTOM]
    if notice.wording < 3 or not uses:
        return ""
    # each name quoted: a name cut short ends in "…", which the sentence's full stop must not follow bare
    quoted = ", ".join(f"‘{use}’" if lang == "ko" else f"“{use}”" for use in uses)
    sentence = _label(_LABELS[lang], "custom_refusal", notice.wording).format(uses=quoted)
    return "\n" + sentence


def _matter_section(matter: Matter, number: int, lang: str, wording: int) -> NoticeSection:
    labels = _LABELS[lang]
    required = labels["required" if matter.required else "optional"]
    kind = _label(labels, matter.kind.value, wording)
    if matter.kind is MatterKind.CUSTOM and wording >= 3:
        kind = custom_matter_name(matter, lang)
    heading = labels["matter"].format(number=number, kind=kind, required=required)
    lines = [f"{labels['summary']}: {matter.summary.get(lang)}", "", matter.full_text.get(lang)]
    if matter.third_party is not None:
        lines.append("")
        for label, name in (
            ("recipient", "recipient"),
            ("recipient_purpose", "purpose"),
            ("recipient_items", "items"),
            ("recipient_retention", "retention"),
        ):
            lines.append(f"{labels[label]}: {getattr(matter.third_party, name).get(lang)}")
    return NoticeSection(f"matters.{matter.id}", _clean(heading), _clean("\n".join(lines)))


def _clean(text: str) -> str:
    """NFC, ``\\n`` line ends, no trailing spaces, no leading/trailing blank lines: what the page shows."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


# --- diff --------------------------------------------------------------------------------------------------


def diff_notices(old: Notice, new: Notice, lang: str) -> NoticeDiff:
    """What changed from `old` to `new` as shown in `lang`: structured changes plus a unified text diff.

    Raises NoticeFormatError for an unsupported language.
    """
    before, after = _flatten(old, lang), _flatten(new, lang)
    changes = [_change(path, before, after) for path in _union(before, after)]
    unified = difflib.unified_diff(
        render_text(old, lang).splitlines(),
        render_text(new, lang).splitlines(),
        fromfile=f"{old.version_id} ({lang})",
        tofile=f"{new.version_id} ({lang})",
        lineterm="",
    )
    return NoticeDiff(
        old_version_id=old.version_id,
        new_version_id=new.version_id,
        language=lang,
        changes=tuple(c for c in changes if c is not None),
        unified="\n".join(unified),
    )


def _flatten(notice: Notice, lang: str) -> dict[str, str]:
    """Every operator-visible field of `notice` in `lang` as path -> text; a matter is also one entry."""
    flat = {"jurisdictions": ", ".join(notice.jurisdictions), "collects_voice": str(notice.collects_voice)}
    flat["title"] = notice.title.get(_check_language(lang))
    for name in ("controller", "privacy_officer"):
        contact: Contact = getattr(notice, name)
        flat |= {f"{name}.name": contact.name.get(lang), f"{name}.address": contact.address.get(lang)}
        flat |= {f"{name}.email": contact.email, f"{name}.phone": contact.phone}
    flat |= {name: getattr(notice, name).get(lang) for name in _TEXT_SECTIONS}
    flat["matters.order"] = ", ".join(m.id for m in notice.matters)
    for matter in notice.matters:
        flat |= _flatten_matter(matter, lang)
    return flat


def _flatten_matter(matter: Matter, lang: str) -> dict[str, str]:
    path = f"matters.{matter.id}"
    flat = {path: matter.summary.get(lang), f"{path}.kind": matter.kind.value}
    flat |= {f"{path}.summary": matter.summary.get(lang), f"{path}.full_text": matter.full_text.get(lang)}
    flat[f"{path}.data_categories"] = ", ".join(matter.data_categories)
    if matter.third_party is not None:
        for name in _THIRD_PARTY_FIELDS:
            flat[f"{path}.third_party.{name}"] = getattr(matter.third_party, name).get(lang)
    return flat


def _union(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    # Keep the notice's own order: old paths first, then paths only the new version has.
    return list(before) + [path for path in after if path not in before]


def _change(path: str, before: Mapping[str, str], after: Mapping[str, str]) -> NoticeChange | None:
    old, new = before.get(path), after.get(path)
    matter = _matter_path(path)
    if matter is not None and path != matter and (matter in before) != (matter in after):
        return None  # a field of an added or removed matter: the matter's own entry reports it
    if old == new or (path == matter and old is not None and new is not None):
        return None  # unchanged, or a matter present in both (its changed fields are reported one by one)
    if old is None:
        return NoticeChange(path, ChangeKind.ADDED, None, new)
    if new is None:
        return NoticeChange(path, ChangeKind.REMOVED, old, None)
    return NoticeChange(path, ChangeKind.MODIFIED, old, new)


def _matter_path(path: str) -> str | None:
    parts = path.split(".")
    if parts[0] != "matters" or len(parts) < 2 or parts[1] == "order":
        return None
    return f"matters.{parts[1]}"


# --- (de)serialisation -------------------------------------------------------------------------------------


def notice_to_dict(notice: Notice) -> dict[str, Any]:
    """`notice` as plain JSON-ready data (strings, lists, dicts, ints, bools) for storage."""
    data: dict[str, Any] = {"schema": NOTICE_SCHEMA}
    for f in fields(Notice):
        data[f.name] = _to_plain(getattr(notice, f.name))
    return data


def notice_from_dict(data: Mapping[str, Any]) -> Notice:
    """Read what `notice_to_dict` wrote. Raises NoticeFormatError naming the path of the first problem."""
    _expect_keys(data, {f.name for f in fields(Notice)} | {"schema"}, "$", optional={"wording"})
    if data.get("schema") != NOTICE_SCHEMA:
        raise NoticeFormatError(f"schema must be {NOTICE_SCHEMA}", "$.schema")
    values: dict[str, Any] = {}
    for name in ("campaign", "version", "collects_voice"):
        values[name] = data[name]
    values["wording"] = data.get("wording", 1)
    if not isinstance(values["collects_voice"], bool):
        raise NoticeFormatError("must be true or false", "$.collects_voice")
    values["jurisdictions"] = tuple(_list(data["jurisdictions"], "$.jurisdictions"))
    for name in ("controller", "privacy_officer"):
        values[name] = _contact_from(data[name], f"$.{name}")
    for name in ("title", *_TEXT_SECTIONS):
        values[name] = _text_from(data[name], f"$.{name}")
    matters = _list(data["matters"], "$.matters")
    values["matters"] = tuple(_matter_from(m, f"$.matters[{i}]") for i, m in enumerate(matters))
    return Notice(**values)


def _to_plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, LocalizedText | Contact | ThirdPartyProvision | Matter):
        return {f.name: _to_plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple):
        return [_to_plain(item) for item in value]
    return value


def _text_from(data: Any, path: str) -> LocalizedText:
    _expect_keys(data, set(LANGUAGES), path)
    for lang in LANGUAGES:
        if not isinstance(data[lang], str):
            raise NoticeFormatError("must be a string", f"{path}.{lang}")
    return LocalizedText(**{lang: data[lang] for lang in LANGUAGES})


def _contact_from(data: Any, path: str) -> Contact:
    _expect_keys(data, {"name", "address", "email", "phone"}, path)
    for name in ("email", "phone"):
        if not isinstance(data[name], str):
            raise NoticeFormatError("must be a string", f"{path}.{name}")
    return Contact(
        name=_text_from(data["name"], f"{path}.name"),
        address=_text_from(data["address"], f"{path}.address"),
        email=data["email"],
        phone=data["phone"],
    )


def _matter_from(data: Any, path: str) -> Matter:
    _expect_keys(data, {f.name for f in fields(Matter)}, path)
    third_party = None
    if data["third_party"] is not None:
        _expect_keys(data["third_party"], set(_THIRD_PARTY_FIELDS), f"{path}.third_party")
        parts = {k: _text_from(v, f"{path}.third_party.{k}") for k, v in data["third_party"].items()}
        third_party = ThirdPartyProvision(**parts)
    return Matter(
        id=data["id"],
        kind=data["kind"],
        summary=_text_from(data["summary"], f"{path}.summary"),
        full_text=_text_from(data["full_text"], f"{path}.full_text"),
        data_categories=tuple(_list(data["data_categories"], f"{path}.data_categories")),
        third_party=third_party,
    )


def _expect_keys(data: Any, expected: set[str], path: str, optional: set[str] | frozenset[str] = frozenset()) -> None:
    if not isinstance(data, Mapping):
        raise NoticeFormatError("must be an object", path)
    missing, extra = expected - set(data) - optional, set(data) - expected
    if missing:
        raise NoticeFormatError(f"missing {sorted(missing)}", path)
    if extra:
        raise NoticeFormatError(f"unexpected {sorted(extra)}", path)


def _list(data: Any, path: str) -> list[Any]:
    if not isinstance(data, list):
        raise NoticeFormatError("must be a list", path)
    return data


# --- shape checks ------------------------------------------------------------------------------------------


def _check_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise NoticeFormatError(f"unsupported language {lang!r}; expected one of {LANGUAGES}", "language")
    return lang


def _check_field_types(notice: Notice) -> None:
    for f in fields(Notice):
        value = getattr(notice, f.name)
        expected = {"controller": Contact, "privacy_officer": Contact, "collects_voice": bool}.get(f.name)
        if expected is None and f.name in ("title", *_TEXT_SECTIONS):
            expected = LocalizedText
        if expected is not None and not isinstance(value, expected):
            raise NoticeFormatError(f"must be a {expected.__name__}", f.name)
    for name in ("controller", "privacy_officer"):
        contact: Contact = getattr(notice, name)
        if not isinstance(contact.email, str) or not isinstance(contact.phone, str):
            raise NoticeFormatError("email and phone must be strings", name)


def _check_matters(matters: tuple[Matter, ...], collects_voice: bool) -> None:
    ids = [m.id for m in matters]
    if not all(isinstance(m, Matter) for m in matters) or len(set(ids)) != len(ids):
        raise NoticeFormatError("matters must be Matter values with distinct ids", "matters")
    for kind in _SINGLE_KINDS:
        if sum(m.kind is kind for m in matters) > 1:
            raise NoticeFormatError(f"at most one {kind.value} matter", "matters")
    if not collects_voice and any(m.kind is MatterKind.VOICE_RECORDING for m in matters):
        raise NoticeFormatError("a voice_recording matter needs a campaign that collects voice", "matters")


def _jurisdictions(values: Any) -> tuple[str, ...]:
    codes = tuple(values) if isinstance(values, list | tuple) else ()
    if not codes or len(set(codes)) != len(codes) or any(code not in JURISDICTIONS for code in codes):
        raise NoticeFormatError(f"jurisdictions are distinct codes from {JURISDICTIONS}", "jurisdictions")
    return tuple(sorted(codes, key=JURISDICTIONS.index))


def _slugs(values: Any, path: str) -> tuple[str, ...]:
    codes = tuple(values) if isinstance(values, list | tuple) else None
    if codes is None or not all(isinstance(c, str) and _SLUG.fullmatch(c) for c in codes):
        raise NoticeFormatError("a tuple of lower-case slugs", path)
    if len(set(codes)) != len(codes):
        raise NoticeFormatError("data categories must be distinct", path)
    return codes


def _enum(kind: type[MatterKind], value: Any, path: str) -> MatterKind:
    try:
        return kind(value)
    except ValueError:
        raise NoticeFormatError(f"unknown matter kind {value!r}", path) from None
