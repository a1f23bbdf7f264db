"""Builders shared by the consent tests: a complete two-language notice and consent events."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from consent.notice import Contact, LocalizedText, Matter, MatterKind, Notice, ThirdPartyProvision

START = dt.datetime(2025, 3, 1, 9, 0, 0, tzinfo=dt.UTC)
POLICY_URL = "https://datadam.example/privacy"
PRINCIPAL = "p_7Hq2ZxW9kLmN3vR5"


def text(ko: str, en: str) -> LocalizedText:
    return LocalizedText(ko=ko, en=en)


def make_notice(**changes: Any) -> Notice:
    """A publishable notice (KR+EU, with voice); keyword arguments replace fields."""
    matters = (
        Matter(
            id="collection",
            kind=MatterKind.COLLECTION_AND_USE,
            summary=text("얼굴 사진과 출생연도를 수집합니다.", "We collect face photos and your birth year."),
            full_text=text("수집 항목: 얼굴 사진, 출생연도, 성별.", "Items: face photos, birth year, gender."),
            data_categories=("face_image", "birth_year", "gender"),
        ),
        Matter(
            id="sensitive",
            kind=MatterKind.SENSITIVE_INFORMATION,
            summary=text("얼굴 특징정보를 생성합니다.", "We derive face features that identify you."),
            full_text=text("특징정보는 품질 검사에만 사용합니다.", "Features are used for quality checks only."),
            data_categories=("face_features", "voice_features"),
        ),
        Matter(
            id="release",
            kind=MatterKind.THIRD_PARTY_PROVISION,
            summary=text("연구 기관에 데이터셋을 제공합니다.", "We release the dataset to research licensees."),
            full_text=text("익명화 후 제공합니다.", "Released after anonymization."),
            data_categories=("face_image",),
            third_party=ThirdPartyProvision(
                recipient=text("인증된 연구 기관", "Accredited research institutes"),
                purpose=text("얼굴 인식 연구", "Face recognition research"),
                items=text("얼굴 사진, 연령대", "Face photos, age band"),
                retention=text("라이선스 종료 후 1년", "One year after the licence ends"),
            ),
        ),
        Matter(
            id="voice",
            kind=MatterKind.VOICE_RECORDING,
            summary=text("음성을 녹음합니다.", "We record your voice."),
            full_text=text("낭독 문장을 녹음합니다.", "You read prompts aloud."),
            data_categories=("voice_recording",),
        ),
    )
    values: dict[str, Any] = dict(
        campaign="faces-2025",
        version=1,
        title=text("얼굴 데이터 수집 동의서", "Face data collection consent"),
        controller=Contact(
            name=text("데이터댐 주식회사", "Datadam Inc."),
            address=text("서울특별시 중구 세종대로 1", "1 Sejong-daero, Jung-gu, Seoul"),
            email="privacy@datadam.example",
            phone="+82-2-000-0000",
        ),
        privacy_officer=Contact(
            name=text("개인정보 보호책임자 김민", "Min Kim, privacy officer"), email="dpo@datadam.example"
        ),
        purpose=text("AI 학습용 얼굴 데이터 구축", "Building a face dataset for AI training"),
        items_collected=text("얼굴 사진, 출생연도, 성별, 음성", "Face photos, birth year, gender, voice"),
        retention=text("수집일로부터 3년", "Three years from collection"),
        right_to_refuse=text("동의를 거부할 수 있습니다.", "You may refuse consent."),
        refusal_consequences=text("거부 시 참여할 수 없습니다.", "If you refuse you cannot take part."),
        legal_basis=text("정보주체의 동의", "Your consent (GDPR Art. 6(1)(a), 9(2)(a))"),
        rights=text("열람, 정정, 삭제, 처리정지를 요구할 수 있습니다.", "Access, rectification, erasure, restriction."),
        complaint=text("개인정보보호위원회에 신고할 수 있습니다.", "You may complain to a supervisory authority."),
        transfers=text("국외 이전 없음", "No transfers outside Korea"),
        matters=matters,
        jurisdictions=("KR", "EU"),
        collects_voice=True,
    )
    values.update(changes)
    return Notice(**values)


def replace_matter(notice: Notice, matter_id: str, **changes: Any) -> Notice:
    matters = tuple(dataclasses.replace(m, **changes) if m.id == matter_id else m for m in notice.matters)
    return dataclasses.replace(notice, matters=matters)
