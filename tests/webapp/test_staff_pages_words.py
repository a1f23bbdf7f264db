"""Staff pages say what the stored codes mean, in Korean: the identity headline and verdicts of a set (undecided
is not a mismatch), the gates' measured values and thresholds, a set whose contributor withdrew (erased, with
what is kept), and on the compliance side the data categories, a rights request's outcome, its deadline in days
as PIPA counts them, the note that an account deletion's contributor never reads, what a step started, and the
dashboard's count of people whose data is held."""

from __future__ import annotations

import re
from typing import Any

import pytest

from collection.compliance import RightsKind, RightsRequest
from collection.contributions.models import Photo, PhotoSet
from tests.webapp.test_review_pages import (
    accept_set,
    add_checked_photos,
    claim,
    enroll,
    in_app,
    page,
    publish,
    signed_in,
    submit,
    submitted_set,
)

KO = {"Accept-Language": "ko"}
BRACKETS = [{"key": k, "min_age": lo, "max_age": lo + 9, "photos": 2} for k, lo in (("0-9", 0), ("20-29", 20),
                                                                                     ("30-39", 30))]
AGES = [3, 5, 20, 23, 36, 38]  # the walkthrough's genuine set


def visible(html_text: str) -> str:
    """The page's text as a reader sees it: tags (and their attributes, such as titles) removed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html_text))


def section(body: str, section_id: str) -> str:
    start = body.index(f'aria-labelledby="{section_id}"')
    return body[start:body.index("</section>", start)]


def six_photo_set(app: Any, clock: Any, make_user: Any, make_campaign: Any, verdicts: dict[int, dict[str, Any]]
                  ) -> tuple[str, list[str]]:
    """A submitted 6-photo set (ages 3-38) whose identity gate gave `verdicts` (index -> stored verdict) and
    passed the rest, with the set's summary stored as the set gate stores it."""
    campaign = make_campaign(brackets=BRACKETS)
    version = publish(app, campaign)
    contributor = make_user("contributor")
    set_id = enroll(app, contributor, campaign, version)
    ids = add_checked_photos(app, clock, contributor, campaign, set_id)
    with in_app(app):
        from webapp.db import get_session

        session = get_session()
        for i, photo_id in enumerate(ids):
            photo = session.get(Photo, photo_id)
            photo.age_years = AGES[i]
            photo.identity = verdicts.get(i, {"verdict": "pass", "score": 0.93, "reason": None,
                                              "evidence": 3.1, "nearest_gap_years": 2.0})
        matrix = [[0.0 if i == j else round(0.40 + 0.02 * abs(i - j), 2) for j in range(6)] for i in range(6)]
        matrix[3][4] = matrix[4][3] = 0.35
        session.get(PhotoSet, set_id).identity = {"consistent": False, "age_mode": "exact",
                                                  "distance_matrix": matrix, "photo_ids": ids}
    submit(app, clock, contributor, campaign)
    return set_id, ids


UNDECIDED = {"verdict": "review", "score": 0.5163, "reason": "uncertain", "evidence": -0.2,
             "nearest_gap_years": 3.0}


def test_one_undecided_photo_asks_a_person_to_compare_and_is_not_called_a_mismatch(
    app: Any, clock: Any, make_user: Any, make_campaign: Any
) -> None:
    set_id, _ = six_photo_set(app, clock, make_user, make_campaign, {4: UNDECIDED})
    body = page(signed_in(app, make_user("operator")).get(f"/operate/review/sets/{set_id}", headers=KO))
    identity = visible(section(body, "identity-h"))
    assert "불일치" not in identity.replace("불일치가 아닙니다", "")  # the set is not said to be inconsistent
    assert "사람이 비교해야 함" in identity and "자동 검사가 판단하지 못한 사진: #5" in identity
    assert "다른 사람으로 판단된 사진은 없습니다" in identity
    card = visible(body[body.index("#5 · 30-39"):])
    card = card[:card.index("자동 검사 (")]
    assert "판단 보류 (불일치 아님)" in card and "다른 사람이라는 근거가 아닙니다" in card
    assert "동일인 점수 0.52 (1에 가까울수록 같은 사람)" in card
    assert "비교한 다른 사진 수: 5." in card and "나이가 가장 가까운 사진과의 차이: 3년." in card
    assert "가장 닮은 사진: #4 (거리 0.35)." in card
    assert "다른 사람일 가능성이 높음" not in body and "판단 불가" not in card


def test_a_photo_left_out_of_the_matrix_still_shows_its_verdict(
    app: Any, clock: Any, make_user: Any, make_campaign: Any
) -> None:
    """A face that may be covered is compared with the others but is no row of the set's matrix: the page shows its
    verdict and what it can say about it, and the matrix of the others."""
    set_id, ids = six_photo_set(app, clock, make_user, make_campaign, {5: UNDECIDED})
    with in_app(app):
        from webapp.db import get_session

        photo_set = get_session().get(PhotoSet, set_id)
        kept = photo_set.identity["distance_matrix"]
        photo_set.identity = {**photo_set.identity, "photo_ids": ids[:5], "distance_matrix": [r[:5] for r in kept[:5]]}
        get_session().commit()
    resp = signed_in(app, make_user("operator")).get(f"/operate/review/sets/{set_id}", headers=KO)
    assert resp.status_code == 200
    card = visible(page(resp)[page(resp).index("#6 · 30-39"):])
    assert "판단 보류 (불일치 아님)" in card and "비교한 다른 사진 수" not in card[:card.index("자동 검사 (")]


def test_a_flagged_photo_is_said_to_be_likely_someone_else(
    app: Any, clock: Any, make_user: Any, make_campaign: Any
) -> None:
    flagged = {"verdict": "flag", "score": 0.08, "reason": "different_person", "evidence": -6.0,
               "nearest_gap_years": 2.0}
    set_id, _ = six_photo_set(app, clock, make_user, make_campaign, {1: flagged, 4: UNDECIDED})
    body = page(signed_in(app, make_user("operator")).get(f"/operate/review/sets/{set_id}", headers=KO))
    identity = visible(section(body, "identity-h"))
    assert "다른 사람이 섞였을 수 있음" in identity and "다른 사람일 가능성이 높은 사진: #2" in identity
    assert "판단하지 못한 사진: #5" in identity
    card = visible(body[body.index("#2 · 0-9"):body.index("#3 · 20-29")])
    assert "다른 사람일 가능성이 높음" in card and "판단 보류" not in card


def test_gate_evidence_is_worded_in_korean(app: Any, clock: Any, make_user: Any, make_campaign: Any) -> None:
    from quality_gates import FaceInfo, GateResult, PhotoReport

    gates = (
        GateResult.ok("decode", {"format": "JPEG", "width": 480, "height": 480}),
        GateResult.ok("face_found", {"faces": 1, "other_face_ratio": 0.0, "detector": "blaze"},
                      {"max_other_face_ratio": 0.6}),
        GateResult.ok("pose", {"yaw_deg": 4.213, "pitch_deg": -2.5, "roll_deg": 1.0},
                      {"max_yaw_deg": 25.0, "max_pitch_deg": 25.0, "max_roll_deg": 20.0}),
        GateResult.needs_review("occlusion", "possibly_covered",
                                {"eye_cover": 0.4123, "mouth_cover": 0.05, "hog_missed": False, "appearance": False},
                                {"eye_cover_fail": 0.5, "mouth_cover_fail": 0.5, "review_margin": 0.15}),
        GateResult.ok("exposure", {"mean_luma": 131.2, "dark_fraction": 0.004, "bright_fraction": 0.0},
                      {"min_face_luma": 60, "max_face_luma": 210, "max_clipped_fraction": 0.25}),
        GateResult.ok("sharpness", {"sharpness": 88.0, "brand_new_key": 7}, {"min_sharpness": 40.0}),
    )
    report = PhotoReport.from_gates(gates, faces=(FaceInfo(box=(120, 330, 330, 140)),), width=480,
                                    height=480).to_dict()
    set_id, ids = six_photo_set(app, clock, make_user, make_campaign, {})
    with in_app(app):
        from webapp.db import get_session

        get_session().get(Photo, ids[0]).gates = report
    body = visible(page(signed_in(app, make_user("operator")).get(f"/operate/review/sets/{set_id}", headers=KO)))
    first = body[body.index("#1 · 0-9"):body.index("#2 · 0-9")]
    for raw in ("format", "width", "faces", "detector", "yaw_deg", "eye_cover", "hog_missed", "appearance",
                "max_yaw_deg", "max_other_face_ratio", "mean_luma", "min_sharpness", "False", "True"):
        assert not re.search(rf"\b{raw}\b", first), raw
    assert "파일 형식 JPEG" in first and "너비(px) 480" in first and "찾은 얼굴 수 1" in first
    assert "찾은 검출기 BlazeFace (HOG가 얼굴을 찾지 못할 때 쓰는 보조 검출기" in first
    assert "좌우 회전(도) 4.2" in first and "최대 좌우 회전(도) 25.0" in first
    assert "눈 가림 점수(0-1) 0.412" in first and "기본 얼굴 검출기가 놓침 아니요" in first
    assert "얼굴 외형 특징도 확인함 아니요" in first and "불합격 눈 가림 점수 0.5" in first
    assert "너무 어두운 얼굴 부분의 비율 0.004" in first
    assert "brand_new_key 7" in first  # a key new to the words stays as it is stored


# --- a set whose contributor withdrew ----------------------------------------------------------------------


def test_an_erased_set_says_so_and_shows_what_is_kept(
    app: Any, clock: Any, make_user: Any, make_campaign: Any, db_session: Any
) -> None:
    from collection.contributions.withdrawal import withdraw_consent

    campaign = make_campaign(second_review=True)
    version = publish(app, campaign)
    contributor, set_id, photo_ids = submitted_set(app, clock, make_user, campaign, version)
    first, second = make_user("operator", name="첫검수"), make_user("operator", name="둘째검수")
    accept_set(app, first, campaign, set_id, photo_ids)  # round 1, first review
    clock.advance(hours=1)
    accept_set(app, second, campaign, set_id, photo_ids)  # second review: accepted, a ledger entry
    with in_app(app) as s:
        s.payments().save_payout_account(contributor, "004", "김민지", "123456-78-901234")
        batch = s.payments().create_batch(first)
        s.payments().mark_paid(first, batch)
    clock.advance(days=3)
    with in_app(app) as s:
        withdraw_consent(s.consent(), contributor.subject_id, campaign.id, erasure=s.erasure())
    body = visible(page(signed_in(app, make_user("operator")).get(f"/operate/review/sets/{set_id}", headers=KO)))
    assert "참여자의 요청으로 파기됨" in body and "참여자가 동의를 철회했습니다." in body
    assert "파기 시각: 2026-11-24" in body
    assert "400,000원" in body and "지급일 2026-11-21" in body and "지급 묶음" in body
    assert "검수한 사람 첫검수, 둘째검수" in body
    assert "아직 판정이 없습니다" not in body and "사진 (0)" not in body
    assert "사진별 판정은 사진과 함께 파기되었습니다. 감사 로그에 남은 회차별 결과:" in body
    assert body.count("첫검수") >= 2 and body.count("둘째검수") >= 2  # the reviewers of both rounds, named


def test_a_set_still_held_has_no_erasure_notice(app: Any, clock: Any, make_user: Any, make_campaign: Any) -> None:
    set_id, _ = six_photo_set(app, clock, make_user, make_campaign, {})
    client = signed_in(app, make_user("operator"))
    claim(client, set_id)
    body = visible(page(client.get(f"/operate/review/sets/{set_id}", headers=KO)))
    assert "파기됨" not in body and "사진 (6)" in body and "아직 판정이 없습니다." in body


# --- compliance pages --------------------------------------------------------------------------------------


def test_processing_records_word_the_data_categories(app: Any, make_campaign: Any, make_user: Any) -> None:
    from collection.campaigns.notice_template import default_notice

    campaign = make_campaign()
    with in_app(app) as s:
        service = s.consent()
        service.publish(service.draft(campaign.id, default_notice(campaign, "데이터댐", "privacy@datadam.example")),
                        by=None)
    body = visible(page(signed_in(app, make_user("compliance")).get("/comply/processing", headers=KO)))
    line = body[body.index("데이터 범주"):body.index("법적 근거")]
    for code in ("face_image", "age_at_capture", "age_band", "bank_account", "birth_date", "face_features"):
        assert code not in line, code
    assert "사진별 촬영 당시 나이" in line and "대가 지급용 계좌 정보" in line and "얼굴 특징정보(생체정보)" in line


def _request(app: Any, user: Any, kind: RightsKind, campaign_id: str | None) -> str:
    with in_app(app):
        from webapp.compliance_services import rights

        return str(rights().submit(user, kind, campaign_id, "").id)


def _post(client: Any, path: str, **data: str) -> Any:
    from tests.webapp.contribute_support import csrf

    return client.post(path, data={"csrf_token": csrf(client, path.rsplit("/", 1)[0]), **data}, headers=KO)


@pytest.fixture()
def participant(app: Any, clock: Any, make_user: Any, make_campaign: Any) -> tuple[Any, Any]:
    campaign = make_campaign()
    version = publish(app, campaign)
    contributor = make_user("contributor")
    enroll(app, contributor, campaign, version)
    return contributor, campaign


def test_a_rights_request_counts_days_as_pipa_does_and_says_what_was_started(
    app: Any, clock: Any, make_user: Any, participant: Any
) -> None:
    contributor, campaign = participant
    request_id = _request(app, contributor, RightsKind.CORRECTION, campaign.id)
    client = signed_in(app, make_user("compliance"))
    path = f"/comply/rights/{request_id}"
    clock.advance(minutes=5)  # later on the day of receipt
    assert "10일 남음" in visible(page(client.get(path, headers=KO)))
    assert "10일 남음" in visible(page(client.get("/comply/rights", headers=KO)))
    clock.advance(hours=14)  # the next day in Korea (09:05 UTC + 14 h = 08:05 KST the day after)
    assert "9일 남음" in visible(page(client.get(path, headers=KO)))
    resp = _post(client, f"{path}/start")
    shown = visible(page(client.get(resp.headers["Location"], headers=KO)))
    assert "처리를 시작했습니다" in shown and "답변 기한: 2026-12-01 (접수 후 10일)" in shown
    assert "저장했습니다" not in shown
    clock.advance(days=9, hours=1)  # 00:05 UTC on the due date (09:05 KST), before the stored deadline's hour
    assert "오늘 마감 (한국 시각 18:00까지)" in visible(page(client.get(path, headers=KO)))


def test_a_rights_request_received_early_morning_in_korea_is_dated_on_the_korean_calendar(
    app: Any, clock: Any, make_user: Any, participant: Any
) -> None:
    contributor, campaign = participant
    clock.advance(hours=14)  # 23:00 UTC = 08:00 KST on 22 November
    request_id = _request(app, contributor, RightsKind.CORRECTION, campaign.id)
    client = signed_in(app, make_user("compliance"))
    shown = visible(page(client.get(f"/comply/rights/{request_id}", headers=KO)))
    assert "2026-11-22 08:00 KST" in shown and "2026-12-02 08:00 KST" in shown and "10일 남음" in shown
    listed = visible(page(client.get("/comply/rights", headers=KO)))
    assert "2026-11-22" in listed and "2026-12-02" in listed and "2026-11-21" not in listed


def test_an_account_deletion_warns_the_note_is_never_read_and_its_outcome_is_worded(
    app: Any, clock: Any, make_user: Any, participant: Any, db_session: Any
) -> None:
    contributor, campaign = participant
    request_id = _request(app, contributor, RightsKind.DELETION, None)
    client = signed_in(app, make_user("compliance"))
    path = f"/comply/rights/{request_id}"
    before = visible(page(client.get(path, headers=KO)))
    assert "참여자가 이 메모를 봅니다" not in before
    assert "계정이 삭제되어 참여자가 더 이상 로그인할 수 없으므로 이 메모를 보지 못합니다" in before
    resp = _post(client, f"{path}/complete", note="계정과 자료를 삭제했습니다.", confirm="y")
    done_html = page(client.get(resp.headers["Location"], headers=KO))
    done = visible(done_html)
    assert "완료: 계정과 모든 자료를 파기하고 요청을 종결했습니다." in done
    assert "erasure_ids" not in done_html and "{" not in done[done.index("처리 결과"):]
    request = db_session.get(RightsRequest, request_id)
    (erasure_id,) = request.outcome["erasure_ids"]
    assert "파기 완료(데이터 키 파기, 파일과 기록 삭제)" in done
    assert f'href="/comply/erasures#erasure-{erasure_id}"' in done_html
    assert f'id="erasure-{erasure_id}"' in page(client.get("/comply/erasures", headers=KO))


def test_a_deletion_with_nothing_left_says_so(app: Any, clock: Any, make_user: Any, participant: Any) -> None:
    contributor, campaign = participant
    with in_app(app) as s:
        from collection.contributions.withdrawal import withdraw_consent

        withdraw_consent(s.consent(), contributor.subject_id, campaign.id, erasure=s.erasure())
    request_id = _request(app, contributor, RightsKind.DELETION, campaign.id)
    client = signed_in(app, make_user("compliance"))
    path = f"/comply/rights/{request_id}"
    assert "참여자가 이 메모를 봅니다" in visible(page(client.get(path, headers=KO)))  # the account stays
    resp = _post(client, f"{path}/complete", note="이미 파기되었습니다.")
    done = visible(page(client.get(resp.headers["Location"], headers=KO)))
    assert "삭제할 캠페인 자료 없음: 보관된 자료가 없었거나 이미 파기된 상태였습니다." in done
    assert "erasure_ids" not in done
    assert "계정을 삭제했습니다" not in done  # a deletion in one campaign leaves the account


def test_an_account_deletion_says_the_account_was_erased_even_with_no_campaign_data_left(
    app: Any, clock: Any, make_user: Any, participant: Any
) -> None:
    from webapp.compliance_words import outcome_lines

    contributor, campaign = participant
    with in_app(app) as s:
        from collection.contributions.withdrawal import withdraw_consent

        withdraw_consent(s.consent(), contributor.subject_id, campaign.id, erasure=s.erasure())
    request_id = _request(app, contributor, RightsKind.DELETION, None)
    client = signed_in(app, make_user("compliance"))
    resp = _post(client, f"/comply/rights/{request_id}/complete", note="계정을 삭제했습니다.", confirm="y")
    done = visible(page(client.get(resp.headers["Location"], headers=KO)))
    assert "계정을 삭제했습니다: 이름, 이메일, 생년월일, 로그인 정보와 지급 계좌" in done
    assert "삭제할 캠페인 자료 없음" in done
    with app.test_request_context(headers=KO):  # a request completed before the outcome said so
        lines = [line.text for line in outcome_lines("deletion", {"erasure_ids": []}, account_wide=True)]
        assert lines[0].startswith("계정을 삭제했습니다") and len(lines) == 2
        assert [line.text for line in outcome_lines("deletion", {"erasure_ids": []})] == lines[1:]


def test_the_dashboard_counts_people_whose_data_is_held(
    app: Any, clock: Any, make_user: Any, make_campaign: Any
) -> None:
    from collection.contributions.withdrawal import withdraw_consent

    campaign = make_campaign()
    version = publish(app, campaign)
    people = [make_user("contributor") for _ in range(4)]
    for person in people:
        enroll(app, person, campaign, version)
    make_user("contributor")  # signed up, never took part
    with in_app(app) as s:
        withdraw_consent(s.consent(), people[0].subject_id, campaign.id, erasure=s.erasure())
    body = visible(page(signed_in(app, make_user("compliance")).get("/comply/", headers=KO)))
    assert "자료를 보관 중인 참여자 3" in body
    assert "자료가 파기된 참여자 1" in body and "캠페인에 참여하지 않은 계정 1" in body
