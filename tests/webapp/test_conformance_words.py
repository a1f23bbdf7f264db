"""Evidence lines of the conformance report in the reader's language, falling back to the check's own words."""

from __future__ import annotations

from typing import Any

from collection.compliance.conformance import Said
from webapp.conformance_words import evidence_text


def test_a_known_line_is_said_in_korean_and_anything_else_as_worded(app: Any) -> None:
    line = Said("stored_checked", "3 stored photos and 1 stored recordings checked against the consents in force",
                photos=3, clips=1)
    assert line == "3 stored photos and 1 stored recordings checked against the consents in force"  # still a str
    with app.test_request_context(headers={"Accept-Language": "ko"}):
        assert evidence_text(line) == "저장된 사진 3장과 녹음 1개를 유효한 동의와 대조함"
        assert evidence_text("a line from an older check") == "a line from an older check"
        assert evidence_text(Said("stored_checked", "as worded", photos=3)) == "as worded"  # a number missing


def test_an_evidence_line_survives_copy_and_pickle() -> None:
    import copy
    import pickle

    line = Said("notices_checked", "2 published notice versions checked item by item", versions=2)
    for twin in (copy.deepcopy(line), pickle.loads(pickle.dumps(line))):
        assert twin == line and twin.code == "notices_checked" and twin.params == {"versions": 2}


def test_problem_lines_are_said_in_korean_with_their_words_and_ids(app: Any) -> None:
    missing = Said("no_consent", "photo p1 (subject s1): no consent in force to collection_and_use", kind="photo",
                   object="p1", subject="s1", missing=["collection_and_use", "sensitive_information"])
    overdue = Said("request_overdue", "deletion request r1: due 2026-11-01, still open", kind="deletion",
                   request="r1", due="2026-11-01", state="open")
    late = Said("erasure_late", "withdrawal e1: due since 2026-10-01, erased only 2026-10-09", source="withdrawal",
                ref="e1", due="2026-10-01", done="2026-10-09")
    with app.test_request_context(headers={"Accept-Language": "ko"}):
        said = evidence_text(missing)
        assert said.startswith("사진 p1 (대상자 s1)") and "개인정보 수집·이용" in said and "민감정보" in said
        assert "collection_and_use" not in said
        assert evidence_text(overdue) == "요청 r1 (삭제): 기한 2026-11-01, 아직 시작되지 않음"
        assert evidence_text(late) == "철회 e1: 2026-10-01부터 기한, 2026-10-09에야 삭제됨"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert evidence_text(overdue) == "Request r1 (deletion): due 2026-11-01, not started yet"
