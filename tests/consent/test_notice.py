"""Consent notices: shape checks, what publishing needs per language, exact rendering, hashing, diff, storage."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import unicodedata
from typing import Any

import pytest
from _consent_support import make_notice, replace_matter, text
from hypothesis import given
from hypothesis import strategies as st

from consent.canonical import canonical_json
from consent.errors import NoticeFormatError, NoticeIncompleteError
from consent.notice import (
    CURRENT_WORDING,
    ChangeKind,
    Contact,
    LocalizedText,
    Matter,
    MatterKind,
    MissingItem,
    Notice,
    NoticeChange,
    ThirdPartyProvision,
    diff_notices,
    missing_items,
    notice_from_dict,
    notice_sections,
    notice_sha256,
    notice_to_dict,
    render_text,
    require_publishable,
)

PIPA_FIELDS = ["title", "purpose", "items_collected", "retention", "right_to_refuse", "refusal_consequences"]
GDPR_FIELDS = ["legal_basis", "rights", "complaint", "transfers"]


def paths(missing: list[MissingItem]) -> set[tuple[str, str | None]]:
    return {(item.path, item.language) for item in missing}


# --- completeness ------------------------------------------------------------------------------------------


def test_a_complete_notice_has_nothing_missing(notice: Notice) -> None:
    assert missing_items(notice) == []
    require_publishable(notice)


def test_an_empty_draft_names_every_missing_item_in_both_languages() -> None:
    draft = Notice(campaign="faces-2025", version=1)
    expected = {(name, lang) for name in PIPA_FIELDS for lang in ("ko", "en")}
    expected |= {(f"{who}.name", lang) for who in ("controller", "privacy_officer") for lang in ("ko", "en")}
    expected |= {("controller.contact", None), ("privacy_officer.contact", None)}
    expected |= {("matters.collection_and_use", None), ("matters.sensitive_information", None)}
    assert paths(missing_items(draft)) == expected


@pytest.mark.parametrize("name", PIPA_FIELDS)
@pytest.mark.parametrize("lang", ["ko", "en"])
def test_one_blank_translation_is_named_precisely(name: str, lang: str) -> None:
    field = getattr(make_notice(), name)
    draft = make_notice(**{name: dataclasses.replace(field, **{lang: "  \n"})})
    assert missing_items(draft) == [MissingItem(name, lang, missing_items(draft)[0].message)]
    assert missing_items(draft)[0].message.startswith("add ")


@pytest.mark.parametrize("name", GDPR_FIELDS)
def test_gdpr_items_are_required_only_where_the_eu_is_configured(name: str) -> None:
    blank = {name: LocalizedText()}
    assert paths(missing_items(make_notice(**blank))) == {(name, "ko"), (name, "en")}
    assert missing_items(make_notice(jurisdictions=("KR",), **blank)) == []


def test_controller_and_privacy_officer_need_a_name_and_a_way_to_reach_them() -> None:
    draft = make_notice(
        controller=Contact(name=text("데이터댐", "")),
        privacy_officer=Contact(name=text("", "Min Kim"), phone="+82-2-000-0000"),
    )
    assert paths(missing_items(draft)) == {
        ("controller.name", "en"),
        ("controller.contact", None),
        ("privacy_officer.name", "ko"),
    }


def test_the_two_required_matters_must_be_present() -> None:
    matters = tuple(m for m in make_notice().matters if m.kind is not MatterKind.SENSITIVE_INFORMATION)
    assert paths(missing_items(make_notice(matters=matters))) == {("matters.sensitive_information", None)}


def test_a_campaign_with_voice_needs_the_voice_matter() -> None:
    matters = tuple(m for m in make_notice().matters if m.kind is not MatterKind.VOICE_RECORDING)
    assert paths(missing_items(make_notice(matters=matters))) == {("matters.voice_recording", None)}
    assert missing_items(make_notice(matters=matters, collects_voice=False)) == []


def test_third_party_provision_needs_recipient_purpose_items_and_retention_per_language(notice: Notice) -> None:
    release = notice.matter("release")
    assert release.third_party is not None
    half = dataclasses.replace(release.third_party, recipient=text("인증된 연구 기관", ""), items=text("", ""))
    draft = replace_matter(notice, "release", third_party=half)
    assert paths(missing_items(draft)) == {
        ("matters.release.third_party.recipient", "en"),
        ("matters.release.third_party.items", "ko"),
        ("matters.release.third_party.items", "en"),
    }
    without = paths(missing_items(replace_matter(notice, "release", third_party=None)))
    assert without == {
        (f"matters.release.third_party.{name}", lang)
        for name in ("recipient", "purpose", "items", "retention")
        for lang in ("ko", "en")
    }


def test_each_matter_needs_summary_full_text_and_data_categories(notice: Notice) -> None:
    draft = replace_matter(
        notice, "voice", summary=text("", "We record."), full_text=text("녹음", ""), data_categories=()
    )
    assert paths(missing_items(draft)) == {
        ("matters.voice.summary", "ko"),
        ("matters.voice.full_text", "en"),
        ("matters.voice.data_categories", None),
    }


def test_require_publishable_raises_with_every_missing_item() -> None:
    draft = make_notice(retention=text("3년", ""), purpose=LocalizedText())
    with pytest.raises(NoticeIncompleteError) as caught:
        require_publishable(draft)
    assert list(caught.value.missing) == missing_items(draft)
    assert paths(missing_items(draft)) == {("purpose", "ko"), ("purpose", "en"), ("retention", "en")}
    assert "retention [en]" in str(caught.value)


# --- shape -------------------------------------------------------------------------------------------------


def test_the_kind_decides_whether_a_matter_is_required(notice: Notice) -> None:
    assert [(m.id, m.required) for m in notice.matters] == [
        ("collection", True),
        ("sensitive", True),
        ("release", False),
        ("voice", False),
    ]
    assert not Matter(id="newsletter", kind=MatterKind.CUSTOM).required


def test_values_are_normalised_on_construction() -> None:
    matter = Matter(id="extra", kind="custom", data_categories=["email"])  # type: ignore[arg-type]
    assert matter.kind is MatterKind.CUSTOM and matter.data_categories == ("email",)
    assert make_notice(jurisdictions=["EU", "KR"]).jurisdictions == ("KR", "EU")
    assert isinstance(make_notice(matters=list(make_notice().matters)).matters, tuple)


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"campaign": "Faces 2025"}, "campaign"),
        ({"version": 0}, "version"),
        ({"version": True}, "version"),
        ({"jurisdictions": ("KR", "US")}, "jurisdictions"),
        ({"jurisdictions": ()}, "jurisdictions"),
        ({"jurisdictions": ("KR", "KR")}, "jurisdictions"),
        ({"purpose": "plain string"}, "purpose"),
        ({"controller": text("a", "b")}, "controller"),
        ({"collects_voice": "yes"}, "collects_voice"),
        ({"collects_voice": False}, "matters"),  # the notice has a voice matter
    ],
)
def test_impossible_notices_are_refused(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(NoticeFormatError) as caught:
        make_notice(**changes)
    assert caught.value.path == path


def test_matter_ids_are_unique_and_single_kinds_appear_once(notice: Notice) -> None:
    collection = notice.matter("collection")
    with pytest.raises(NoticeFormatError, match="distinct ids"):
        make_notice(matters=(*notice.matters, collection))
    with pytest.raises(NoticeFormatError, match="at most one collection_and_use"):
        make_notice(matters=(*notice.matters, dataclasses.replace(collection, id="collection-2")))
    release = notice.matter("release")
    make_notice(matters=(*notice.matters, dataclasses.replace(release, id="release-2")))  # may repeat


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"id": "Bad Id", "kind": MatterKind.CUSTOM}, "slug"),
        ({"id": "x", "kind": "marketing"}, "unknown matter kind"),
        ({"id": "x", "kind": MatterKind.CUSTOM, "third_party": ThirdPartyProvision()}, "third-party details"),
        ({"id": "x", "kind": MatterKind.CUSTOM, "data_categories": ("Face Image",)}, "slugs"),
        ({"id": "x", "kind": MatterKind.CUSTOM, "data_categories": ("a", "a")}, "distinct"),
    ],
)
def test_impossible_matters_are_refused(values: dict[str, Any], problem: str) -> None:
    with pytest.raises(NoticeFormatError, match=problem):
        Matter(**values)


def test_unsupported_languages_are_refused(notice: Notice) -> None:
    with pytest.raises(NoticeFormatError, match="unsupported language"):
        render_text(notice, "ja")


# --- rendering and hashing ---------------------------------------------------------------------------------


def test_rendering_shows_every_item_in_the_chosen_language_only(notice: Notice) -> None:
    korean, english = render_text(notice, "ko"), render_text(notice, "en")
    assert korean.endswith("\n") and not korean.endswith("\n\n")
    for section in ("수집·이용 목적", "AI 학습용 얼굴 데이터 구축", "보유 및 이용 기간", "privacy@datadam.example"):
        assert section in korean
    assert "동의 사항 1: 개인정보 수집·이용 (필수)" in korean
    assert "동의 사항 3: 개인정보 제3자 제공 (선택)" in korean
    assert "제공받는 자: 인증된 연구 기관" in korean
    assert "Consent 4: Collection and use of voice recordings (optional)" in english
    assert "Recipient's retention and use period: One year after the licence ends" in english
    assert "Building a face dataset" not in korean and "얼굴" not in english


def test_sections_are_what_the_text_joins(notice: Notice) -> None:
    sections = notice_sections(notice, "en")
    assert [s.key for s in sections][:3] == ["title", "controller", "privacy_officer"]
    assert [s.key for s in sections][-4:] == [
        "matters.collection",
        "matters.sensitive",
        "matters.release",
        "matters.voice",
    ]
    assert render_text(notice, "en") == "\n\n".join(f"{s.heading}\n{s.body}" for s in sections) + "\n"


def test_blank_optional_sections_are_left_out() -> None:
    korea_only = make_notice(jurisdictions=("KR",), legal_basis=LocalizedText(), transfers=LocalizedText())
    assert "Legal basis" not in render_text(korea_only, "en")
    assert "Transfers abroad" not in render_text(korea_only, "en")


def test_the_hash_is_sha256_of_the_rendered_utf8_text(notice: Notice) -> None:
    for lang in ("ko", "en"):
        assert notice_sha256(notice, lang) == hashlib.sha256(render_text(notice, lang).encode("utf-8")).hexdigest()
    assert notice_sha256(notice, "ko") != notice_sha256(notice, "en")


def test_rendering_is_a_frozen_format() -> None:
    # Receipts already issued carry this hash: any change to rendering must be a deliberate new format.
    small = Notice(
        campaign="demo",
        version=2,
        title=text("제목", "Title"),
        purpose=text("목적", "Purpose"),
        matters=(Matter(id="collection", kind=MatterKind.COLLECTION_AND_USE, summary=text("요약", "Sum")),),
    )
    assert render_text(small, "en") == (
        "Title\nConsent document demo, version 2\n\n"
        "Controller\n\n"
        "Privacy officer\n\n"
        "Purpose of collection and use\nPurpose\n\n"
        "Consent 1: Collection and use of personal information (required)\nSummary: Sum\n"
    )
    assert render_text(small, "ko") == (
        "제목\n동의서 demo 버전 2\n\n개인정보처리자\n\n개인정보 보호책임자\n\n수집·이용 목적\n목적\n\n"
        "동의 사항 1: 개인정보 수집·이용 (필수)\n요약: 요약\n"
    )
    assert notice_sha256(small, "ko") == "c70c74a608c693fe474537c9bac18b384cbeedc5084b48aab293dd4e94ab563f"


def test_line_endings_trailing_spaces_and_unicode_forms_do_not_change_the_hash(notice: Notice) -> None:
    messy_text = "AI 학습용 얼굴 데이터 구축  \r\n두 번째 줄\t\r\n"
    clean_text = "AI 학습용 얼굴 데이터 구축\n두 번째 줄"
    nfd = unicodedata.normalize("NFD", clean_text)
    hashes = {notice_sha256(make_notice(purpose=text(t, "Purpose")), "ko") for t in (messy_text, clean_text, nfd)}
    assert len(hashes) == 1


def _text_paths(value: Any, prefix: str) -> list[str]:
    """Dotted paths of every LocalizedText reachable from `value`."""
    found = []
    for f in dataclasses.fields(value):
        child = getattr(value, f.name)
        if isinstance(child, LocalizedText):
            found.append(f"{prefix}{f.name}")
        elif dataclasses.is_dataclass(child):
            found += _text_paths(child, f"{prefix}{f.name}.")
    return found


def _with_text(notice: Notice, path: str, lang: str, suffix: str) -> Notice:
    def rebuild(value: Any, parts: list[str]) -> Any:
        child = getattr(value, parts[0])
        if len(parts) == 1:
            return dataclasses.replace(
                value, **{parts[0]: dataclasses.replace(child, **{lang: child.get(lang) + suffix})}
            )
        return dataclasses.replace(value, **{parts[0]: rebuild(child, parts[1:])})

    if path.startswith("matters."):
        _, matter_id, rest = path.split(".", 2)
        return dataclasses.replace(
            notice, matters=tuple(rebuild(m, rest.split(".")) if m.id == matter_id else m for m in notice.matters)
        )
    return rebuild(notice, path.split("."))


ALL_TEXT_PATHS = _text_paths(make_notice(), "") + [
    f"matters.{m.id}.{p}" for m in make_notice().matters for p in _text_paths(m, "")
]


@pytest.mark.parametrize("path", ALL_TEXT_PATHS)
def test_every_shown_text_is_bound_by_the_hash_of_its_language_only(notice: Notice, path: str) -> None:
    changed = _with_text(notice, path, "ko", " 변경")
    assert notice_sha256(changed, "ko") != notice_sha256(notice, "ko")
    assert notice_sha256(changed, "en") == notice_sha256(notice, "en")


# --- diff --------------------------------------------------------------------------------------------------


def test_diff_lists_a_changed_field_and_shows_a_unified_diff(notice: Notice) -> None:
    new = dataclasses.replace(notice, version=2, retention=text("수집일로부터 5년", "Five years from collection"))
    diff = diff_notices(notice, new, "en")
    assert diff.changes == (
        NoticeChange("retention", ChangeKind.MODIFIED, "Three years from collection", "Five years from collection"),
    )
    assert diff.old_version_id == "faces-2025@v1" and diff.new_version_id == "faces-2025@v2"
    assert diff.unified.startswith("--- faces-2025@v1 (en)\n+++ faces-2025@v2 (en)\n")
    assert "\n-Three years from collection\n+Five years from collection" in diff.unified
    assert "\n-Consent document faces-2025, version 1\n+Consent document faces-2025, version 2" in diff.unified


def test_an_added_matter_is_one_change_plus_the_new_order(notice: Notice) -> None:
    extra = Matter(id="newsletter", kind=MatterKind.CUSTOM, summary=text("소식지", "Newsletter"))
    diff = diff_notices(notice, dataclasses.replace(notice, version=2, matters=(*notice.matters, extra)), "en")
    assert [(c.path, c.kind) for c in diff.changes] == [
        ("matters.order", ChangeKind.MODIFIED),
        ("matters.newsletter", ChangeKind.ADDED),
    ]
    assert diff.changes[1].new == "Newsletter"
    assert "+Consent 5: Newsletter (optional)" in diff.unified  # headed by what it is for (edition 3)
    assert "+You may also refuse each of these optional uses separately: “Newsletter”." in diff.unified


def test_edition_3_names_a_campaign_specific_use_while_an_edition_2_version_keeps_its_text(notice: Notice) -> None:
    """A campaign-specific use was headed "Other optional use" and went unmentioned in the right to refuse; from
    edition 3 it is headed by its summary and the right to refuse names it. A version published in edition 2 keeps
    its exact text and hash: receipts carry that hash."""
    extra = Matter(id="followup", kind=MatterKind.CUSTOM, summary=text("추후 연락\n두 번째 줄", "Follow-up contact"))
    current = dataclasses.replace(notice, matters=(*notice.matters, extra))
    published = dataclasses.replace(current, wording=2)
    ko, en = render_text(current, "ko"), render_text(current, "en")
    assert "동의 사항 5: 추후 연락 (선택)" in ko and "기타 선택 이용" not in ko
    assert "다음 선택 이용에 대한 동의도 각각 거부할 수 있습니다: ‘추후 연락’." in ko
    assert "Consent 5: Follow-up contact (optional)" in en
    sections = {s.key: s.body for s in notice_sections(current, "en")}
    assert sections["right_to_refuse"].endswith("You may also refuse each of these optional uses separately: "
                                                 "“Follow-up contact”.")
    old = render_text(published, "ko")
    assert "동의 사항 5: 기타 선택 이용 (선택)" in old and "다음 선택 이용" not in old
    stored = notice_from_dict(json.loads(json.dumps(notice_to_dict(published))))
    assert notice_sha256(stored, "ko") == notice_sha256(published, "ko") != notice_sha256(current, "ko")
    assert "다음 선택 이용" not in render_text(notice, "ko")  # nothing added without a campaign-specific use


def test_a_campaign_specific_use_is_named_by_a_short_clean_name_not_its_whole_summary(notice: Notice) -> None:
    """Edition 3 heads a campaign-specific use and lists it in the right to refuse by one short name
    (`custom_matter_name`): the summary's first line without its closing full stop, cut at a word boundary."""
    from consent.notice import CUSTOM_NAME_MAX, custom_matter_name

    mail = Matter(id="mail", kind=MatterKind.CUSTOM,
                  summary=text("캠페인 소식을 이메일로 보내 드립니다.", "We send campaign news by email."))
    photos = Matter(id="promo", kind=MatterKind.CUSTOM, summary=text("홍보 자료에 사진 사용", "Photos in promotion"))
    long = Matter(id="long", kind=MatterKind.CUSTOM, summary=text(
        "참여자의 사진 일부를 캠페인 홍보용 포스터와 누리집, 소셜 미디어 게시물에 사용합니다。\n자세한 내용",
        "We use some of your photos on campaign posters, on our website and in social media posts."))
    blank = Matter(id="blank", kind=MatterKind.CUSTOM, summary=text(" ", " "))
    current = dataclasses.replace(notice, matters=(*notice.matters, mail, photos))
    ko, en = render_text(current, "ko"), render_text(current, "en")
    assert "동의 사항 5: 캠페인 소식을 이메일로 보내 드립니다 (선택)" in ko
    assert "거부할 수 있습니다: ‘캠페인 소식을 이메일로 보내 드립니다’, ‘홍보 자료에 사진 사용’.\n" in ko
    assert "Consent 5: We send campaign news by email (optional)" in en
    assert "separately: “We send campaign news by email”, “Photos in promotion”.\n" in en
    assert custom_matter_name(long, "en") == "We use some of your photos on campaign…"
    assert custom_matter_name(long, "ko") == "참여자의 사진 일부를 캠페인 홍보용 포스터와 누리집, 소셜 미디어…"
    for lang in ("ko", "en"):
        name = custom_matter_name(long, lang)
        assert len(name) <= CUSTOM_NAME_MAX and name.endswith("…") and "\n" not in name
    assert custom_matter_name(blank, "ko") == "기타 선택 이용"
    assert custom_matter_name(blank, "en") == "Other optional use"
    # editions 1 and 2 keep their exact text: the name is not used there
    for edition in (1, 2):
        old = render_text(dataclasses.replace(current, wording=edition), "ko")
        assert "동의 사항 5: 기타 선택 이용 (선택)" in old and "다음 선택 이용" not in old


def test_a_removed_matter_is_one_change(notice: Notice) -> None:
    matters = tuple(m for m in notice.matters if m.id != "release")
    diff = diff_notices(notice, dataclasses.replace(notice, version=2, matters=matters), "ko")
    removed = [c for c in diff.changes if c.kind is ChangeKind.REMOVED]
    assert removed == [NoticeChange("matters.release", ChangeKind.REMOVED, "연구 기관에 데이터셋을 제공합니다.", None)]


def test_changes_inside_a_matter_are_listed_field_by_field(notice: Notice) -> None:
    release = notice.matter("release")
    assert release.third_party is not None
    provision = dataclasses.replace(release.third_party, recipient=text("대학 연구소", "University labs"))
    new = replace_matter(notice, "release", third_party=provision, data_categories=("face_image", "age_band"))
    diff = diff_notices(notice, new, "en")
    assert [(c.path, c.old, c.new) for c in diff.changes] == [
        ("matters.release.data_categories", "face_image", "face_image, age_band"),
        ("matters.release.third_party.recipient", "Accredited research institutes", "University labs"),
    ]


def test_a_change_in_one_language_does_not_show_in_the_other(notice: Notice) -> None:
    new = dataclasses.replace(notice, purpose=text("새 목적", notice.purpose.en))
    assert diff_notices(notice, new, "en").is_empty
    assert [c.path for c in diff_notices(notice, new, "ko").changes] == ["purpose"]


# --- storage -----------------------------------------------------------------------------------------------


def test_a_notice_round_trips_through_plain_json(notice: Notice) -> None:
    stored = canonical_json(notice_to_dict(notice))
    restored = notice_from_dict(json.loads(stored))
    assert restored == notice
    assert notice_sha256(restored, "ko") == notice_sha256(notice, "ko")


texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@given(texts, texts, texts, st.booleans())
def test_any_text_round_trips_and_hashes_the_same(ko: str, en: str, summary: str, eu: bool) -> None:
    notice = make_notice(
        purpose=LocalizedText(ko=ko, en=en),
        jurisdictions=("KR", "EU") if eu else ("KR",),
    )
    notice = replace_matter(notice, "voice", summary=LocalizedText(ko=summary, en=summary))
    restored = notice_from_dict(json.loads(json.dumps(notice_to_dict(notice))))
    assert restored == notice
    assert render_text(restored, "en") == render_text(notice, "en")


def test_a_notice_stored_before_wording_editions_renders_as_it_was_published(notice: Notice) -> None:
    """Edition 1 said "face and voice features" for every campaign; edition 2 says "biometric features". A stored
    notice without an edition is edition 1 and keeps its exact text and hash (receipts carry that hash)."""
    data = notice_to_dict(notice)
    assert data["wording"] == CURRENT_WORDING
    legacy = {k: v for k, v in data.items() if k != "wording"}
    old = notice_from_dict(legacy)
    assert old.wording == 1 and notice_to_dict(old)["wording"] == 1
    assert "민감정보(얼굴·음성 특징정보) 처리" in render_text(old, "ko")
    assert "(face and voice features)" in render_text(old, "en")
    assert "민감정보(생체 특징정보) 처리" in render_text(notice, "ko")
    assert "face and voice" not in render_text(notice, "en") and "(biometric features)" in render_text(notice, "en")
    assert notice_sha256(old, "ko") != notice_sha256(notice, "ko")
    stored_again = notice_from_dict(json.loads(json.dumps(notice_to_dict(old))))
    assert notice_sha256(stored_again, "ko") == notice_sha256(old, "ko")


def _broken(mutate: Any) -> dict[str, Any]:
    data = notice_to_dict(make_notice())
    mutate(data)
    return data


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (_broken(lambda d: d.pop("retention")), "$"),
        (_broken(lambda d: d.update(extra=1)), "$"),
        (_broken(lambda d: d.update(schema=2)), "$.schema"),
        (_broken(lambda d: d["purpose"].pop("en")), "$.purpose"),
        (_broken(lambda d: d["purpose"].update(en=3)), "$.purpose.en"),
        (_broken(lambda d: d["controller"].update(email=None)), "$.controller.email"),
        (_broken(lambda d: d.update(matters={})), "$.matters"),
        (_broken(lambda d: d["matters"][2]["third_party"].pop("items")), "$.matters[2].third_party"),
        (_broken(lambda d: d["matters"][0].update(summary="text")), "$.matters[0].summary"),
        (_broken(lambda d: d.update(collects_voice="true")), "$.collects_voice"),
        (_broken(lambda d: d.update(wording=CURRENT_WORDING + 1)), "wording"),
        (_broken(lambda d: d.update(wording=True)), "wording"),
        (_broken(lambda d: d["matters"][0].update(kind="marketing")), "matters.collection.kind"),
    ],
)
def test_broken_stored_notices_are_refused_with_a_path(data: dict[str, Any], path: str) -> None:
    with pytest.raises(NoticeFormatError) as caught:
        notice_from_dict(data)
    assert caught.value.path == path
