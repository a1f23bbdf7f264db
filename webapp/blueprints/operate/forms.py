"""Operator forms: the campaign settings. Shapes are checked here; the campaign service checks the rules."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import unicodedata
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

BRACKET_LINE = re.compile(r"^\s*(\d{1,6})\s*-\s*(\d{1,6})\s*[: ]\s*(\d{1,9})\s*$")


def parse_brackets(text: str) -> list[dict[str, Any]]:
    """'0-9: 10' per line -> [{"key": "0-9", "min_age": 0, "max_age": 9, "photos": 10}], checked as the campaign
    service checks them. Raises ValidationError in the operator's language."""
    from collection.campaigns.service import MAX_BRACKET_PHOTOS, BracketError, validate_brackets

    brackets = []
    for number, line in enumerate(filter(str.strip, text.splitlines()), 1):
        match = BRACKET_LINE.match(unicodedata.normalize("NFKC", line))
        if not match:
            raise ValidationError(_l("Line %(n)d: write each bracket as “20-29: 10” (ages, a colon, the number of "
                                     "photos).", n=number))
        lo, hi, n = (int(g) for g in match.groups())
        brackets.append({"key": f"{lo}-{hi}", "min_age": lo, "max_age": hi, "photos": n})
    if not brackets:
        raise ValidationError(_l("Add at least one age bracket, e.g. “20-29: 10”."))
    try:
        return validate_brackets(brackets)
    except BracketError as exc:
        words = {
            "duplicate_key": _l("The %(key)s bracket is listed twice.", **exc.params),
            "ages": _l("The %(key)s bracket: ages go from 0 to 120, the younger one first.", **exc.params),
            "photos": _l("The %(key)s bracket: ask for 1 to %(most)d photos.", most=MAX_BRACKET_PHOTOS,
                         **exc.params),
            "overlap": _l("The %(key)s and %(other)s brackets overlap: each age belongs to one bracket.",
                          **exc.params),
        }
        raise ValidationError(words.get(exc.code, str(exc))) from exc


def format_brackets(brackets: list[dict[str, Any]]) -> str:
    return "\n".join(f"{b['min_age']}-{b['max_age']}: {b['photos']}" for b in brackets)


def parse_prompts(text: str, min_s: int, max_s: int) -> list[dict[str, Any]]:
    """'한국어 문장 || English sentence' per line. Raises ValidationError in the operator's language."""
    prompts = []
    for number, line in enumerate(filter(str.strip, text.splitlines()), 1):
        ko, sep, en = line.partition("||")
        if not sep or not ko.strip() or not en.strip():
            raise ValidationError(_l("Line %(n)d: write each prompt as “한국어 문장 || English sentence”.", n=number))
        prompts.append(
            {
                "key": f"p{number}",
                "text_ko": ko.strip(),
                "text_en": en.strip(),
                "min_seconds": min_s,
                "max_seconds": max_s,
            }
        )
    return prompts


def format_prompts(prompts: list[dict[str, Any]]) -> str:
    return "\n".join(f"{p['text_ko']} || {p['text_en']}" for p in prompts)


# The form fields of the settings fixed while a campaign is open (`collection.campaigns.service.OPEN_EDITABLE`): the
# edit form shows them disabled, and a browser does not send disabled fields back, so the page fills them in from
# the stored settings before checking the form.
LOCKED_WHILE_OPEN = ("brackets", "voice_prompts", "voice_min_seconds", "voice_max_seconds", "min_face_px",
                     "min_inter_eye_px", "max_file_mb", "advanced_rules", "payment_krw", "min_age", "max_age",
                     "k_anonymity", "second_review")


def with_locked_settings(formdata: Any, campaign: Any) -> Any:
    """`formdata` (a request's form) with each locked setting it lacks taken from `campaign`'s stored settings."""
    stored = CampaignForm(formdata=None)
    stored.fill(campaign)
    data = formdata.copy()
    for name in LOCKED_WHILE_OPEN:
        value = stored[name].data
        if name not in data and value is not None and value is not False:  # 0 (== False) is a value to keep
            data.setlist(name, ["y" if value is True else str(value)])
    return data


class CampaignForm(FlaskForm):
    slug = StringField(_l("Short name (in links)"), validators=[DataRequired(), Length(min=3, max=63)])
    title_ko = StringField(_l("Title (Korean)"), validators=[DataRequired(), Length(max=200)])
    title_en = StringField(_l("Title (English)"), validators=[DataRequired(), Length(max=200)])
    description_ko = TextAreaField(_l("Description (Korean)"), validators=[Length(max=5000)])
    description_en = TextAreaField(_l("Description (English)"), validators=[Length(max=5000)])
    # The defaults make a campaign that can be completed: every bracket starts at or below the youngest age taken.
    brackets = TextAreaField(
        _l("Age brackets and photos per bracket"), default="0-9: 10\n10-19: 20\n20-29: 20\n30-39: 20"
    )
    min_face_px = IntegerField(_l("Minimum face size (px)"), default=96, validators=[NumberRange(24, 4000)])
    min_inter_eye_px = IntegerField(
        _l("Minimum distance between the eyes (px)"), default=32, validators=[NumberRange(8, 2000)]
    )
    max_file_mb = IntegerField(_l("Maximum file size (MB)"), default=20, validators=[NumberRange(1, 100)])
    advanced_rules = TextAreaField(_l("Other gate thresholds (JSON)"), validators=[Optional(), Length(max=5000)])
    voice_prompts = TextAreaField(_l("Voice prompts, one per line: 한국어 || English"), validators=[Length(max=5000)])
    voice_min_seconds = IntegerField(_l("Minimum recording length (s)"), default=2, validators=[NumberRange(1, 600)])
    voice_max_seconds = IntegerField(_l("Maximum recording length (s)"), default=20, validators=[NumberRange(1, 600)])
    payment_krw = IntegerField(
        _l("Payment per accepted set (KRW)"), default=400000, validators=[InputRequired(), NumberRange(0, 100_000_000)]
    )
    quota = IntegerField(_l("Contributor quota (0 = no limit)"), default=0, validators=[NumberRange(0, 1_000_000)])
    min_age = IntegerField(_l("Youngest contributor (age)"), default=30, validators=[NumberRange(0, 120)])
    max_age = IntegerField(_l("Oldest contributor (age)"), default=60, validators=[NumberRange(0, 120)])
    retention_days = IntegerField(
        _l("Keep data for (days after close)"), default=365, validators=[NumberRange(1, 3650)]
    )
    k_anonymity = IntegerField(_l("k-anonymity of released attributes"), default=5, validators=[NumberRange(2, 100)])
    second_review = BooleanField(_l("Require a second reviewer"))
    # The settings the form was filled from (`settings_digest`): a save based on settings someone has changed since
    # is stopped instead of silently undoing their change.
    basis = HiddenField()
    shown = HiddenField()  # the values the form was filled with (`merge_current`), encoded


    creating = False  # set by the new-campaign page: the short name must be free, and every check runs at once

    def validate_slug(self, field: StringField) -> None:
        from collection.campaigns.service import SLUG

        slug = (field.data or "").strip()
        if not SLUG.fullmatch(slug):
            raise ValidationError(_l("The short name uses 3 to 63 lower-case letters, digits and '-'."))
        if self.creating:
            from collection.errors import NotFound
            from webapp.services import campaigns

            try:
                campaigns().by_slug(slug)
            except NotFound:
                return
            raise ValidationError(_l("Another campaign uses this short name."))

    def validate_brackets(self, field: TextAreaField) -> None:
        brackets = parse_brackets(field.data or "")
        if self.creating and self.min_age.data is not None:
            from collection.campaigns.service import UnreachableBracket, check_brackets_reachable

            try:
                check_brackets_reachable(brackets, self.min_age.data)
            except UnreachableBracket as exc:
                raise ValidationError(unreachable_words(exc, self.max_age.data)) from exc

    def validate_voice_prompts(self, field: TextAreaField) -> None:
        parse_prompts(field.data or "", 1, 2)

    def validate_voice_max_seconds(self, field: IntegerField) -> None:
        low = self.voice_min_seconds.data
        if low is not None and field.data is not None and field.data < low:
            raise ValidationError(_l("The longest recording must not be shorter than the shortest (%(s)d s).", s=low))

    def validate_advanced_rules(self, field: TextAreaField) -> None:
        from quality_gates import PhotoRules, RulesError

        try:
            rules = json.loads((field.data or "").strip() or "{}")
        except json.JSONDecodeError as exc:
            raise ValidationError(_l("Write the thresholds as JSON, e.g. {\"max_yaw_deg\": 30} (line %(line)d, "
                                     "column %(col)d is not).", line=exc.lineno, col=exc.colno)) from exc
        if not isinstance(rules, dict):
            raise ValidationError(_l("Write the thresholds as one JSON object, e.g. {\"max_yaw_deg\": 30}."))
        from webapp.blueprints.operate.photo_rule_words import FIELD_RULES, closest_rule

        for key in rules:
            if key in FIELD_RULES:
                raise ValidationError(_l("“%(key)s” is set with the “%(field)s” field above, not in this box.",
                                         key=key, field=FIELD_RULES[key]))
        try:
            PhotoRules.from_dict(rules)
        except RulesError as exc:
            if exc.problem == "unknown rule":
                guess = closest_rule(exc.key)
                if guess:
                    raise ValidationError(_l("“%(key)s”: there is no such threshold. Did you mean this one? %(guess)s",
                                             key=exc.key, guess=guess)) from exc
                raise ValidationError(_l("“%(key)s”: there is no such threshold. The table below lists every one.",
                                         key=exc.key)) from exc
            raise ValidationError(_l("The threshold “%(key)s” is not valid: %(problem)s", key=exc.key,
                                     problem=exc.problem)) from exc

    def validate_max_age(self, field: IntegerField) -> None:
        if self.min_age.data is not None and field.data is not None and field.data < self.min_age.data:
            raise ValidationError(_l("The oldest age must not be below the youngest."))

    def values(self) -> dict[str, Any]:
        rules = json.loads((self.advanced_rules.data or "").strip() or "{}")
        rules.update(
            min_face_side_px=self.min_face_px.data,
            min_inter_eye_px=float(self.min_inter_eye_px.data),
            max_bytes=self.max_file_mb.data * 1024 * 1024,
        )
        return {
            "slug": self.slug.data.strip(),
            "title_ko": self.title_ko.data.strip(),
            "title_en": self.title_en.data.strip(),
            "description_ko": self.description_ko.data or "",
            "description_en": self.description_en.data or "",
            "brackets": parse_brackets(self.brackets.data),
            "photo_rules": rules,
            "voice_prompts": parse_prompts(
                self.voice_prompts.data or "", self.voice_min_seconds.data, self.voice_max_seconds.data
            ),
            "payment_krw": self.payment_krw.data,
            "quota": self.quota.data,
            "min_age": self.min_age.data,
            "max_age": self.max_age.data,
            "retention_days": self.retention_days.data,
            "k_anonymity": self.k_anonymity.data,
            "second_review": bool(self.second_review.data),
        }

    def fill(self, campaign: Any) -> None:
        from quality_gates import PhotoRules

        self.basis.data = settings_digest(campaign)
        rules = dict(campaign.photo_rules or {})
        self.slug.data = campaign.slug
        for name in (
            "title_ko",
            "title_en",
            "description_ko",
            "description_en",
            "payment_krw",
            "quota",
            "min_age",
            "max_age",
            "retention_days",
            "k_anonymity",
            "second_review",
        ):
            getattr(self, name).data = getattr(campaign, name)
        self.brackets.data = format_brackets(campaign.brackets)
        self.voice_prompts.data = format_prompts(campaign.voice_prompts)
        if campaign.voice_prompts:
            self.voice_min_seconds.data = campaign.voice_prompts[0].get("min_seconds", 2)
            self.voice_max_seconds.data = campaign.voice_prompts[0].get("max_seconds", 20)
        # What the gates apply when a rule is not stored: the library's defaults, not this form's defaults for a
        # new campaign (showing those would make saving the form change the rules).
        defaults = PhotoRules()
        self.min_face_px.data = rules.pop("min_face_side_px", defaults.min_face_side_px)
        self.min_inter_eye_px.data = int(rules.pop("min_inter_eye_px", defaults.min_inter_eye_px))
        self.max_file_mb.data = max(1, int(rules.pop("max_bytes", defaults.max_bytes)) // (1024 * 1024))
        self.advanced_rules.data = json.dumps(rules, ensure_ascii=False) if rules else ""
        self.shown.data = base64.urlsafe_b64encode(json.dumps(self._values_shown(), sort_keys=True).encode()).decode()

    def _values_shown(self) -> dict[str, Any]:
        return {f.name: f.data for f in self if f.name not in ("csrf_token", "slug", "basis", "shown")}

    def merge_current(self, campaign: Any) -> list[str]:
        """After another save (another tab, another operator): fields this form did not touch take the values
        saved meanwhile; fields changed on both sides keep what was typed here and say what the other save put.
        Returns the names of those conflicting fields; the form is then based on the current settings."""
        try:
            shown = json.loads(base64.urlsafe_b64decode((self.shown.data or "").encode()))
        except (ValueError, TypeError):
            shown = {}
        fresh = CampaignForm(formdata=None)
        fresh.fill(campaign)
        conflicts = []
        for name, before in shown.items() if isinstance(shown, dict) else ():
            if name not in self._fields or name not in fresh._fields:
                continue
            field, now = self[name], fresh[name].data
            if _same(field.data, before):
                field.process(None, now)
                field.raw_data = None  # numbers are shown from what was posted while it is kept
            elif not _same(now, before) and not _same(field.data, now):
                conflicts.append(name)
                field.errors = [_l("Also changed by the other save, to: %(value)s", value=_shown(now))]
        self.basis.data, self.shown.data = fresh.basis.data, fresh.shown.data
        return conflicts


_SETTINGS = ("title_ko", "title_en", "description_ko", "description_en", "brackets", "photo_rules", "voice_prompts",
             "payment_krw", "quota", "min_age", "max_age", "retention_days", "k_anonymity", "second_review")


def _same(a: Any, b: Any) -> bool:
    """Equal as a form means them (browsers send line breaks as CRLF)."""
    def norm(v: Any) -> Any:
        return v.replace("\r\n", "\n").strip() if isinstance(v, str) else v
    return bool(norm(a) == norm(b))


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(_l("yes") if value else _l("no"))
    return str(value)


def settings_digest(campaign: Any) -> str:
    """A short fingerprint of the campaign's editable settings."""
    values = {name: getattr(campaign, name) for name in _SETTINGS}
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:32]


def unreachable_words(exc: Any, oldest: int | None = None) -> Any:
    """Why a bracket no contributor could complete is refused (`collection.campaigns.service.UnreachableBracket`);
    when it starts above the oldest age taken too, raising the youngest age cannot help."""
    if oldest is not None and exc.start > oldest:
        return _l("The %(key)s bracket starts above the oldest age the campaign accepts (%(oldest)d): nobody it "
                  "accepts could have photos from then. Remove the bracket, or accept older contributors.",
                  key=exc.key, oldest=oldest)
    return _l("The %(key)s bracket starts above the youngest age the campaign accepts (%(youngest)d): contributors "
              "aged %(youngest)d to %(below)d could never complete their set. Raise the youngest age to %(start)d "
              "or remove the bracket.", key=exc.key, youngest=exc.youngest, below=exc.start - 1, start=exc.start)
