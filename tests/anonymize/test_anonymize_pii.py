"""Personal data in free text, Korean and English."""

from __future__ import annotations

import pytest

from anonymize import find_pii, scrub_text

NAMES = ("홍길동", "Hong Gil-dong")
EMAILS = ("hong.gd@naver.com",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("주민번호 900101-1234567 입니다", "주민번호 [RRN] 입니다"),
        ("주민등록번호는 0203154123456", "주민등록번호는 [RRN]"),
        ("생년월일 앞자리 850315-2****** 확인", "생년월일 앞자리 [RRN] 확인"),
        ("연락처: 010-1234-5678, 집 02-123-4567", "연락처: [PHONE], 집 [PHONE]"),
        ("사무실 (031) 234-5678 / 070-1234-5678", "사무실 [PHONE] / [PHONE]"),
        ("전화01012345678로 주세요", "전화[PHONE]로 주세요"),
        ("Call +82 10 1234 5678 or +82-2-123-4567", "Call [PHONE] or [PHONE]"),
        ("고객센터 1588-1234", "고객센터 [PHONE]"),
        ("Call me at (555) 123-4567 or +44 20 7946 0958", "Call me at [PHONE] or [PHONE]"),
        ("메일은hong.gd@naver.com입니다", "메일은[EMAIL]입니다"),
        ("write to john.doe [at] example [dot] com", "write to [EMAIL]"),
        ("card 4111 1111 1111 1111 exp 12/27", "card [CARD] exp 12/27"),
        ("카드번호 5500-0000-0000-0004", "카드번호 [CARD]"),
        ("국민은행 123456-01-123456 으로 입금", "국민은행 [ACCOUNT] 으로 입금"),
        ("신한 110123456789 로 보내주세요", "신한 [ACCOUNT] 로 보내주세요"),
        ("refund to account no. 12345678901", "refund to account no. [ACCOUNT]"),
        ("우리 1002-123-456789", "우리 [ACCOUNT]"),
    ],
)
def test_patterns(text: str, expected: str) -> None:
    assert scrub_text(text).text == expected


@pytest.mark.parametrize(
    "text",
    [
        "not a card 4111 1111 1111 1112",
        "released 2024-03-01, 12,345 items, version 1.2.3",
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "subject s-3q2xkcv7hd2mf6oa4ls5b3x7ma, item i-k2mq4s6u7wyza2bcdefghijklm",
        "나이 20-29, 지역 수도권, 성별 F",
        "invalid date 901301-1234567",
    ],
)
def test_no_false_positives_on_release_text(text: str) -> None:
    assert find_pii(text) == []


def test_contributor_name_in_korean_and_latin() -> None:
    text = "홍길동 님 사진, 길동씨 확인 / Hong Gildong uploaded; GILDONG HONG again; Gil-dong said"
    scrubbed = scrub_text(text, names=NAMES)
    assert "홍길동" not in scrubbed.text and "길동" not in scrubbed.text
    assert "gildong" not in scrubbed.text.lower() and "gil-dong" not in scrubbed.text.lower()
    assert scrubbed.text.count("[NAME]") == 5


def test_two_syllable_surname() -> None:
    assert scrub_text("남궁민수 확인, 민수야 고마워", names=["남궁민수"]).text == "[NAME] 확인, [NAME]야 고마워"


def test_contributor_email_and_handle() -> None:
    scrubbed = scrub_text("mail HONG.GD@NAVER.COM or ping hong.gd on chat", emails=EMAILS)
    assert scrubbed.text == "mail [EMAIL] or ping [EMAIL] on chat"


def test_findings_point_into_the_original_text() -> None:
    text = "문의 010-1234-5678 또는 hong.gd@naver.com"
    findings = find_pii(text)
    assert [(f.kind, text[f.start : f.end]) for f in findings] == [
        ("phone", "010-1234-5678"),
        ("email", "hong.gd@naver.com"),
    ]
    assert scrub_text(text).findings == tuple(findings)


def test_full_width_digits_and_unicode_dashes() -> None:
    assert scrub_text("전화 ０１０－１２３４－５６７８").text == "전화 [PHONE]"
    assert scrub_text("tel 010–1234–5678").text == "tel [PHONE]"


def test_file_names() -> None:
    assert scrub_text("홍길동_010-1234-5678_selfie.jpg", names=NAMES).text == "[NAME]_[PHONE]_selfie.jpg"
