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
