"""The operator's full inspection pages through the test client: the queue (oldest first), claims between two
operators, the decrypting photo endpoint and its audit trail, gate evidence on the review page, form refusals,
the whole loop with a replacement and re-inspection, the second reviewer, appeals, and who may see any of it.

Sets for most tests are built the way the upload path and the gate jobs leave them (sealed photos under the
contributor's key in the app's blob store, gate reports made with quality_gates' own result types), so these
tests do not run the face models; the whole-loop test uses the real upload service and gates."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from collection.audit.models import AuditEvent
from collection.contributions.models import Photo, PhotoSet, PhotoState, SetState
from collection.contributions.uploads import blob_key, keyholder
from collection.payments.models import LedgerEntry
from collection.review.models import Appeal, AppealState, PhotoDecision
from tests.collection.flow_support import consent_and_enroll, publish_notice
from tests.conftest import DEMO_PASSWORD, csrf_token
from webapp.demo_media import face_photo

AGES = {"0-9": 8, "10-19": 15, "20-29": 25, "30-39": 31}
BOX = (120, 330, 330, 140)  # top, right, bottom, left in original pixels of a 480 x 480 photo


# --- helpers (the payment page tests use them too) ---------------------------------------------------------


@contextmanager
def in_app(app: Any) -> Iterator[Any]:
    """The app's own services inside a request context, committed at the end like a view would."""
    from webapp import services
    from webapp.db import get_session

    with app.test_request_context():
        yield services
        get_session().commit()


def signed_in(app: Any, user: Any) -> Any:
    """A separate browser (test client) signed in as `user`."""
    client = app.test_client()
    token = csrf_token(client, "/login")
    resp = client.post("/login", data={"email": user.email, "password": DEMO_PASSWORD, "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    return client


def page(resp: Any) -> str:
    return html.unescape(resp.get_data(as_text=True))


def flashes(resp: Any) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<p class="flash[^"]*" role="status">([^<]+)</p>', resp.text)]


def publish(app: Any, campaign: Any) -> Any:
    with in_app(app) as s:
        from webapp.db import get_session

        return publish_notice(SimpleNamespace(consent=s.consent(), session=get_session()), campaign)


def enroll(app: Any, user: Any, campaign: Any, version: Any) -> str:
    with in_app(app) as s:
        from webapp.db import get_session

        env = SimpleNamespace(consent=s.consent(), contributions=s.contributions(), session=get_session())
        return str(consent_and_enroll(env, user, campaign, version).id)


def gate_report(side: float = 210.0) -> dict[str, Any]:
    from quality_gates import FaceInfo, GateResult, PhotoReport

    gates = (
        GateResult.ok("face_size", {"side_px": side, "fraction": 0.44}, {"min_side_px": 96}),
        GateResult.ok("sharpness", {"laplacian_var": 311.5}, {"min_laplacian_var": 60.0}),
    )
    return PhotoReport.from_gates(gates, faces=(FaceInfo(box=BOX),), width=480, height=480).to_dict()


def add_checked_photos(app: Any, clock: Any, user: Any, campaign: Any, set_id: str, start: int = 0) -> list[str]:
    """Fill every bracket with photos as the upload path and the gate jobs leave them: re-encoded, sealed under
    the contributor's key in the app's blob store, with a gate report and an identity verdict."""
    from webapp.db import get_session

    ids = []
    with in_app(app) as s:
        session, up = get_session(), s.uploads()
        photo_set = session.get(PhotoSet, set_id)
        brackets = [b["key"] for b in campaign.brackets for _ in range(b["photos"])]
        for i, bracket in enumerate(brackets):
            clock.advance(seconds=1)
            photo = Photo(
                set_id=set_id,
                campaign_id=campaign.id,
                user_id=user.id,
                bracket=bracket,
                state=PhotoState.PASSED,
                content_mac=f"mac-{set_id}-{i}",
                width=480,
                height=480,
                source_format="JPEG",
                age_years=AGES[bracket],
                age_source="contributor",
                gates=gate_report(200.0 + i),
                identity={"verdict": "pass", "score": 0.91, "reason": None},
                created_at=clock.now(),
                blob_key="",
            )
            session.add(photo)
            session.flush()
            photo.blob_key = blob_key(keyholder(photo_set), "photo", photo.id, 1)
            photo.thumb_key = blob_key(keyholder(photo_set), "thumb", photo.id, 1)
            up.put_sealed(photo_set, photo.blob_key, 1, face_photo(start + i))
            up.put_sealed(photo_set, photo.thumb_key, 1, face_photo(start + i, size=160))
            ids.append(photo.id)
        n = len(ids)
        matrix = [[0.0 if i == j else round(0.3 + 0.01 * (i + j), 2) for j in range(n)] for i in range(n)]
        matrix[0][n - 1] = matrix[n - 1][0] = 0.71
        photo_set.identity = {"consistent": False, "age_mode": "exact", "distance_matrix": matrix}
    return ids


def submit(app: Any, clock: Any, user: Any, campaign: Any) -> None:
    clock.advance(minutes=1)
    with in_app(app) as s:
        s.contributions().submit(user, campaign)


def submitted_set(
    app: Any, clock: Any, make_user: Any, campaign: Any, version: Any, start: int = 0
) -> tuple[Any, str, list[str]]:
    """A contributor who consented, filled every bracket and submitted: (contributor, set id, photo ids)."""
    contributor = make_user("contributor", name=f"홍길동{start}")
    set_id = enroll(app, contributor, campaign, version)
    photo_ids = add_checked_photos(app, clock, contributor, campaign, set_id, start)
    submit(app, clock, contributor, campaign)
    return contributor, set_id, photo_ids


def decide_data(client: Any, set_id: str, photo_ids: list[str], **special: dict[str, str]) -> dict[str, str]:
    """A decision form accepting every photo except those given in `special` (photo id -> fields)."""
    data = {"csrf_token": csrf_token(client, f"/operate/review/sets/{set_id}")}
    for photo_id in photo_ids:
        fields = special.get(photo_id, {"decision": "accept"})
        data |= {f"p_{photo_id}-{k}": v for k, v in fields.items()}
    return data


def claim(client: Any, set_id: str) -> Any:
    token = csrf_token(client, "/operate/review")
    return client.post(f"/operate/review/sets/{set_id}/claim", data={"csrf_token": token})


def db_set(db_session: Any, set_id: str) -> PhotoSet:
    db_session.expire_all()
    return db_session.get(PhotoSet, set_id)


def count(db_session: Any, model: Any, *where: Any) -> int:
    return int(db_session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture()
def ready(app: Any, make_campaign: Any) -> tuple[Any, Any]:
    campaign = make_campaign()
    return campaign, publish(app, campaign)


# --- the queue and claims ----------------------------------------------------------------------------------


def test_queue_lists_submitted_sets_oldest_first(app: Any, clock: Any, make_user: Any, ready: Any) -> None:
    campaign, version = ready
    order = [submitted_set(app, clock, make_user, campaign, version, start=10 * i)[1] for i in range(3)]
    drafting = make_user("contributor")
    enroll(app, drafting, campaign, version)  # a draft set is not in the queue
    client = signed_in(app, make_user("operator", locale="en"))
    body = page(client.get("/operate/review"))
    positions = [body.index(f'id="set-{set_id}"') for set_id in order]
    assert positions == sorted(positions)
    assert body.count('id="set-') == 3
    filtered = page(client.get(f"/operate/review?campaign={campaign.slug}"))
    assert filtered.count('id="set-') == 3 and campaign.title_en in filtered
    assert client.get("/operate/review?campaign=no-such-campaign").status_code == 404


def test_a_claimed_set_is_refused_to_another_operator(app: Any, clock: Any, make_user: Any, ready: Any) -> None:
    campaign, version = ready
    _, set_id, _ = submitted_set(app, clock, make_user, campaign, version)
    first = make_user("operator", locale="en", name="Operator Kim")
    one, two = signed_in(app, first), signed_in(app, make_user("operator", locale="en"))
    resp = claim(one, set_id)
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/operate/review/sets/{set_id}")
    resp = claim(two, set_id)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/operate/review")
    refused = two.get(resp.headers["Location"])
    assert "Operator Kim is already reviewing this set." in flashes(refused)
    assert 'action="/operate/review/sets/' + set_id + '/claim"' not in refused.text  # no claim button offered
    assert "Operator Kim" in page(refused)  # the queue shows who holds it
    set_page = page(two.get(f"/operate/review/sets/{set_id}"))
    assert "Operator Kim is already reviewing this set." in set_page and "Send the decision" not in set_page
    with in_app(app):
        from webapp.db import get_session

        assert get_session().get(PhotoSet, set_id).claimed_by == first.id


def test_release_puts_the_set_back_for_anyone(
    app: Any, clock: Any, make_user: Any, ready: Any, db_session: Any
) -> None:
    campaign, version = ready
    _, set_id, _ = submitted_set(app, clock, make_user, campaign, version)
    one, two = signed_in(app, make_user("operator")), signed_in(app, make_user("operator"))
    claim(one, set_id)
    assert db_set(db_session, set_id).state is SetState.IN_REVIEW
    resp = two.post(f"/operate/review/sets/{set_id}/release", data={"csrf_token": csrf_token(two, "/operate/review")})
    assert resp.status_code == 302 and db_set(db_session, set_id).claimed_by is not None  # not theirs to release
    one.post(f"/operate/review/sets/{set_id}/release", data={"csrf_token": csrf_token(one, "/operate/review")})
    assert db_set(db_session, set_id).state is SetState.SUBMITTED and db_set(db_session, set_id).claimed_by is None
    assert claim(two, set_id).headers["Location"].endswith(set_id)


# --- the photo endpoint ------------------------------------------------------------------------------------


def test_every_photo_view_is_decrypted_and_audited(
    app: Any, clock: Any, make_user: Any, ready: Any, db_session: Any
) -> None:
    campaign, version = ready
    _, set_id, photo_ids = submitted_set(app, clock, make_user, campaign, version)
    operator = make_user("operator")
    client = signed_in(app, operator)
    viewed = (AuditEvent.action == "photo.viewed", AuditEvent.object_id == photo_ids[0])
    client.get(f"/operate/review/sets/{set_id}")
    assert count(db_session, AuditEvent, *viewed) == 0  # the page itself shows no photo bytes
    full = client.get(f"/operate/review/photos/{photo_ids[0]}")
    thumb = client.get(f"/operate/review/photos/{photo_ids[0]}?size=thumb")
    for resp, side in ((full, 480), (thumb, 160)):
        assert resp.status_code == 200 and resp.mimetype == "image/jpeg"
        assert resp.headers["Cache-Control"] == "no-store"
        assert Image.open(io.BytesIO(resp.data)).size == (side, side)  # decrypted: a real picture
    events = db_session.scalars(select(AuditEvent).where(*viewed)).all()
    assert sorted((e.actor_id, e.actor_role, e.details["size"]) for e in events) == [
        (operator.id, "operator", "full"),
        (operator.id, "operator", "thumb"),
    ]
    client.get(f"/operate/review/photos/{photo_ids[0]}")
    assert count(db_session, AuditEvent, *viewed) == 3  # every view, not every photo
    assert client.get("/operate/review/photos/no-such-photo").status_code == 404


def test_photos_of_a_withdrawn_contributor_are_shown_to_no_one(
    app: Any, clock: Any, make_user: Any, ready: Any, db_session: Any
) -> None:
    campaign, version = ready
    contributor, set_id, photo_ids = submitted_set(app, clock, make_user, campaign, version)
    with in_app(app) as s:
        s.consent().withdraw(contributor.subject_id, campaign.id, ["sensitive"])
    client = signed_in(app, make_user("operator"))
    assert client.get(f"/operate/review/photos/{photo_ids[0]}").status_code == 409
    assert count(db_session, AuditEvent, AuditEvent.action == "photo.viewed") == 0
    resp = claim(client, set_id)
    assert db_set(db_session, set_id).claimed_by is None
    assert resp.headers["Location"].endswith("/operate/review")


def test_a_set_suspended_at_the_contributors_request_is_not_reviewed(
    app: Any, clock: Any, make_user: Any, ready: Any, db_session: Any
) -> None:
    from collection.compliance.models import RightsKind
    from collection.compliance.rights import RightsService

    campaign, version = ready
    contributor, set_id, photo_ids = submitted_set(app, clock, make_user, campaign, version)
    officer = make_user("compliance")
    with in_app(app) as s:
        from webapp.db import get_session

        rights = RightsService(get_session(), s.clock(), s.audit(), s.erasure())
        request = rights.submit(contributor, RightsKind.SUSPENSION, campaign.id, "잠시 멈춰 주세요")
        rights.start(officer, request)
        rights.complete(officer, request, "정지함")
    client = signed_in(app, make_user("operator", locale="en"))
    resp = claim(client, set_id)
    assert "suspended at the contributor's request" in flashes(client.get(resp.headers["Location"]))[0]
    assert db_set(db_session, set_id).claimed_by is None
    assert client.get(f"/operate/review/photos/{photo_ids[0]}").status_code == 409


# --- the review page ---------------------------------------------------------------------------------------


def test_review_page_shows_the_gate_evidence(app: Any, clock: Any, make_user: Any, ready: Any) -> None:
    campaign, version = ready
    contributor = make_user("contributor", name="숨길이름")
    set_id = enroll(app, contributor, campaign, version)
    photo_ids = add_checked_photos(app, clock, contributor, campaign, set_id)
    with in_app(app):
        from webapp.db import get_session

        doubtful = get_session().get(Photo, photo_ids[1])
        doubtful.state = PhotoState.NEEDS_REVIEW
        doubtful.contributor_note = "제가 여덟 살 때 사진이 맞습니다"
        doubtful.identity = {"verdict": "review", "score": 0.48, "reason": "weak_evidence"}
    submit(app, clock, contributor, campaign)
    client = signed_in(app, make_user("operator", locale="en"))
    claim(client, set_id)
    body = page(client.get(f"/operate/review/sets/{set_id}"))
    top, right, bottom, left = BOX
    assert body.count('viewBox="0 0 480 480"') == len(photo_ids)
    rect = f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}"'
    assert body.count(rect) == len(photo_ids)
    assert "Face side (px) <b>200.0</b>" in body and "Smallest face side (px) <b>96</b>" in body  # vs threshold
    assert "Sharpness score <b>311.5</b>" in body
    assert "needs a person to look" in body and "same-person score 0.48" in body
    assert "undecided (not a mismatch)" in body and "all far from this age" in body
    assert "(weak_evidence)" not in body  # worded, code in title
    assert "제가 여덟 살 때 사진이 맞습니다" in body
    # one undecided photo: a person compares it; the set is not called inconsistent
    assert "Same person across the set" in body and "not consistent" not in body and "a person must compare" in body
    assert body.count('class="far"') == 2 and ">0.71<" in body  # the pair above the tolerance, both cells
    columns = re.findall(r'<th scope="col">(#\d+)</th>', body)
    assert columns == [f"#{n}" for n in range(1, len(photo_ids) + 1)]  # rows matched to the photos' numbers
    assert "숨길이름" not in body and contributor.email not in body  # no contributor identity on the page
    assert f"/operate/review/photos/{photo_ids[0]}?size=thumb" in body


def test_the_distance_matrix_follows_the_page_order_or_says_it_cannot() -> None:
    from webapp.blueprints.operate.review_views import identity_matrix

    photos = [Photo(id=i, state=PhotoState.PASSED) for i in ("a", "b", "c")]
    matrix = [[0.0, 0.1, 0.7], [0.1, 0.0, 0.2], [0.7, 0.2, 0.0]]  # rows in the order the gate compared: a, b, c
    photo_set = PhotoSet(identity={"distance_matrix": matrix, "consistent": False}, photos=photos)
    shown = identity_matrix(photo_set, {"a": 3, "b": 1, "c": 2})
    assert shown is not None and shown.labelled
    assert shown.labels == ["#1", "#2", "#3"]
    assert shown.rows == [[0.0, 0.2, 0.1], [0.2, 0.0, 0.7], [0.1, 0.7, 0.0]]  # b, c, a
    photo_set.identity = {"distance_matrix": matrix[:2]}  # a matrix of another size: cannot be matched
    unmatched = identity_matrix(photo_set, {"a": 3, "b": 1, "c": 2})
    assert unmatched is not None and not unmatched.labelled and unmatched.labels == ["1", "2"]
    photo_set.identity = {}
    assert identity_matrix(photo_set, {}) is None


def test_reject_without_a_reason_is_refused(app: Any, clock: Any, make_user: Any, ready: Any, db_session: Any) -> None:
    campaign, version = ready
    _, set_id, photo_ids = submitted_set(app, clock, make_user, campaign, version)
    client = signed_in(app, make_user("operator", locale="en"))
    claim(client, set_id)
    data = decide_data(client, set_id, photo_ids, **{photo_ids[2]: {"decision": "reject", "reason": ""}})
    resp = client.post(f"/operate/review/sets/{set_id}/decide", data=data)
    assert resp.status_code == 400
    assert f'id="p_{photo_ids[2]}-reason-err"' in resp.text and "Choose a reason for the rejection." in page(resp)
    assert f'checked id="p_{photo_ids[0]}-decision-0"' in resp.text  # what was chosen is kept
    assert f'checked id="p_{photo_ids[2]}-decision-1"' in resp.text
    assert '="None"' not in resp.text  # no attribute rendered from a missing value
    assert count(db_session, PhotoDecision, PhotoDecision.set_id == set_id) == 0
    assert db_set(db_session, set_id).state is SetState.IN_REVIEW


def test_other_without_a_comment_is_refused(app: Any, clock: Any, make_user: Any, ready: Any, db_session: Any) -> None:
    campaign, version = ready
    _, set_id, photo_ids = submitted_set(app, clock, make_user, campaign, version)
    client = signed_in(app, make_user("operator", locale="en"))
    claim(client, set_id)
    other = {"decision": "reject", "reason": "other", "comment": "   "}
    resp = client.post(
        f"/operate/review/sets/{set_id}/decide", data=decide_data(client, set_id, photo_ids, **{photo_ids[0]: other})
    )
    assert resp.status_code == 400 and "Explain the reason 'other' in a comment." in page(resp)
    undecided = decide_data(client, set_id, photo_ids)
    del undecided[f"p_{photo_ids[3]}-decision"]
    resp = client.post(f"/operate/review/sets/{set_id}/decide", data=undecided)
    assert resp.status_code == 400 and "Accept or reject this photo." in page(resp)
    assert count(db_session, PhotoDecision, PhotoDecision.set_id == set_id) == 0


def test_deciding_needs_the_claim(app: Any, clock: Any, make_user: Any, ready: Any, db_session: Any) -> None:
    campaign, version = ready
    _, set_id, photo_ids = submitted_set(app, clock, make_user, campaign, version)
    client = signed_in(app, make_user("operator", locale="en"))
    resp = client.post(f"/operate/review/sets/{set_id}/decide", data=decide_data(client, set_id, photo_ids))
    assert resp.status_code == 409 and "Claim the set before deciding on it." in flashes(resp)
    assert count(db_session, PhotoDecision, PhotoDecision.set_id == set_id) == 0


def test_reasons_are_shown_in_the_operators_language(app: Any, clock: Any, make_user: Any, ready: Any) -> None:
    campaign, version = ready
    _, korean_set, _ = submitted_set(app, clock, make_user, campaign, version)
    _, english_set, _ = submitted_set(app, clock, make_user, campaign, version, start=20)
    korean, english = signed_in(app, make_user("operator")), signed_in(app, make_user("operator", locale="en"))
    claim(korean, korean_set)
    claim(english, english_set)
    body = page(korean.get(f"/operate/review/sets/{korean_set}"))
    assert "얼굴이 너무 작음" in body and "다른 사람" in body and "Face too small" not in body
    assert "Face too small" in page(english.get(f"/operate/review/sets/{english_set}"))


# --- second reviewer and appeals ---------------------------------------------------------------------------


def test_a_second_reviewer_must_be_a_different_operator(
    app: Any, clock: Any, make_user: Any, make_campaign: Any, db_session: Any
) -> None:
    campaign = make_campaign(second_review=True)
    version = publish(app, campaign)
    _, set_id, photo_ids = submitted_set(app, clock, make_user, campaign, version)
    first, second = make_user("operator", locale="en", name="First Op"), make_user("operator", locale="en")
    one, two = signed_in(app, first), signed_in(app, second)
    claim(one, set_id)
    resp = one.post(f"/operate/review/sets/{set_id}/decide", data=decide_data(one, set_id, photo_ids))
    assert "another operator will check the set" in flashes(one.get(resp.headers["Location"]))[0]
    assert db_set(db_session, set_id).state is SetState.AWAITING_SECOND_REVIEW
    assert count(db_session, LedgerEntry, LedgerEntry.set_id == set_id) == 0  # not paid on one review

    queue = page(one.get("/operate/review"))
    assert "Another operator must do the second review." in queue
    assert f"/operate/review/sets/{set_id}/claim" not in queue
    claim(one, set_id)  # the model lets the first reviewer hold the set, but never accept it a second time
    resp = one.post(f"/operate/review/sets/{set_id}/decide", data=decide_data(one, set_id, photo_ids))
    assert resp.status_code == 409
    assert "the second review must be done by a different operator" in flashes(resp)[0]
    assert db_set(db_session, set_id).state is SetState.AWAITING_SECOND_REVIEW
    one.post(f"/operate/review/sets/{set_id}/release", data={"csrf_token": csrf_token(one, "/operate/review")})

    claim(two, set_id)
    body = page(two.get(f"/operate/review/sets/{set_id}"))
    assert "Second review: the first reviewer accepted every photo." in body and "First Op" in body
    resp = two.post(f"/operate/review/sets/{set_id}/decide", data=decide_data(two, set_id, photo_ids))
    assert "its payment is in the ledger" in flashes(two.get(resp.headers["Location"]))[0]
    assert db_set(db_session, set_id).state is SetState.ACCEPTED
    assert count(db_session, LedgerEntry, LedgerEntry.set_id == set_id) == 1
    reviewers = db_session.scalars(select(PhotoDecision.reviewer_id).where(PhotoDecision.set_id == set_id)).all()
    assert sorted(reviewers) == sorted([first.id] * len(photo_ids) + [second.id] * len(photo_ids))


def test_an_appeal_is_decided_by_another_operator(
    app: Any, clock: Any, make_user: Any, ready: Any, db_session: Any
) -> None:
    campaign, version = ready
    contributor, set_id, photo_ids = submitted_set(app, clock, make_user, campaign, version)
    first, second = make_user("operator", locale="en"), make_user("operator", locale="en")
    one, two = signed_in(app, first), signed_in(app, second)
    claim(one, set_id)
    rejection = {"decision": "reject", "reason": "different_person", "comment": "다른 사람으로 보입니다"}
    one.post(
        f"/operate/review/sets/{set_id}/decide", data=decide_data(one, set_id, photo_ids, **{photo_ids[0]: rejection})
    )
    assert db_set(db_session, set_id).state is SetState.CHANGES_REQUESTED
    with in_app(app) as s:
        from webapp.db import get_session

        appeal_id = (
            s.review().appeal(contributor, get_session().get(Photo, photo_ids[0]), "어릴 때 제 모습이 맞습니다").id
        )

    mine = page(one.get("/operate/review/appeals"))
    assert "어릴 때 제 모습이 맞습니다" in mine and "A different person" in mine and "다른 사람으로 보입니다" in mine
    assert "You made the decision under appeal" in mine and f"/review/appeals/{appeal_id}/decide" not in mine
    assert "2026-11-30 18:" in mine and "KST" in mine and "9 days left" in mine  # decided within 9 days of filing
    clock.advance(hours=1)  # later the same day it is still 9 calendar days (it said 8 an instant after filing)
    assert "9 days left" in page(one.get("/operate/review/appeals"))
    clock.advance(hours=-1)

    clock.advance(days=10)
    theirs = page(two.get("/operate/review/appeals"))
    assert 'class="card overdue"' in theirs and "overdue by 1 days" in theirs
    token = csrf_token(one, "/operate/review/appeals")
    resp = one.post(
        f"/operate/review/appeals/{appeal_id}/decide",
        data={f"a_{appeal_id}-outcome": "overturn", f"a_{appeal_id}-csrf_token": token},
    )
    assert resp.status_code == 409 and "an operator other than the first reviewer decides it" in flashes(resp)[0]
    token = csrf_token(two, "/operate/review/appeals")
    prefix = f"a_{appeal_id}-"
    resp = two.post(
        f"/operate/review/appeals/{appeal_id}/decide", data={prefix + "outcome": "uphold", prefix + "csrf_token": token}
    )
    assert resp.status_code == 400 and "Say why the rejection stands" in page(resp)
    data = {
        prefix + "outcome": "overturn",
        prefix + "answer": "확인했습니다. 같은 분이 맞습니다.",
        prefix + "csrf_token": token,
    }
    resp = two.post(f"/operate/review/appeals/{appeal_id}/decide", data=data)
    assert resp.status_code == 302 and "No open appeals." in page(two.get("/operate/review/appeals"))
    db_session.expire_all()
    appeal = db_session.get(Appeal, appeal_id)
    assert appeal.state is AppealState.OVERTURNED and appeal.decided_by == second.id
    assert db_session.get(Photo, photo_ids[0]).state is PhotoState.ACCEPTED
    history = page(two.get(f"/operate/review/sets/{set_id}"))
    assert "overturned" in history and "같은 분이 맞습니다" in history
    # that was the set's last rejection: sending it again stays the contributor's step (it checks the set is
    # complete and the consent current), and their page says nothing is left to fix
    assert db_set(db_session, set_id).state is SetState.CHANGES_REQUESTED
    own = page(signed_in(app, contributor).get(f"/me/campaigns/{campaign.slug}/set"))
    assert "이제 “반려됨” 표시가 있는 사진은 없습니다" in own
    assert "사진(사유는 사진마다 표시)을 바꾼 뒤" not in own


# --- who may see any of it ---------------------------------------------------------------------------------


def test_contributors_and_compliance_are_denied_every_operator_page(
    app: Any, clock: Any, make_user: Any, ready: Any, db_session: Any
) -> None:
    campaign, version = ready
    contributor, set_id, photo_ids = submitted_set(app, clock, make_user, campaign, version)
    operator = make_user("operator")
    with in_app(app) as s:
        from webapp.db import get_session

        session = get_session()
        photo_set = session.get(PhotoSet, set_id)
        s.review().claim(operator, photo_set)
        s.review().decide(operator, photo_set, [verdict(p, p == photo_ids[0]) for p in photo_ids], campaign)
        appeal_id = s.review().appeal(contributor, session.get(Photo, photo_ids[0]), "제 사진입니다").id
    batch_id = _accepted_and_batched(app, clock, make_user, campaign, version, make_user("operator"))
    pages = [
        ("GET", "/operate/review"),
        ("GET", f"/operate/review/sets/{set_id}"),
        ("POST", f"/operate/review/sets/{set_id}/claim"),
        ("POST", f"/operate/review/sets/{set_id}/release"),
        ("POST", f"/operate/review/sets/{set_id}/decide"),
        ("GET", f"/operate/review/photos/{photo_ids[0]}"),
        ("GET", f"/operate/review/photos/{photo_ids[0]}?size=thumb"),
        ("GET", "/operate/review/appeals"),
        ("POST", f"/operate/review/appeals/{appeal_id}/decide"),
        ("GET", "/operate/payments"),
        ("POST", "/operate/payments/batches"),
        ("GET", f"/operate/payments/batches/{batch_id}"),
        ("POST", f"/operate/payments/batches/{batch_id}/export"),
        ("POST", f"/operate/payments/batches/{batch_id}/paid"),
    ]
    before = {e.id for e in db_session.query(AuditEvent)}
    for role in ("contributor", "compliance"):
        client = signed_in(app, contributor if role == "contributor" else make_user(role))
        token = csrf_token(client, "/")
        for method, url in pages:
            resp = client.open(url, method=method, data={"csrf_token": token} if method == "POST" else None)
            assert resp.status_code == 403, (role, method, url, resp.status_code)
    anonymous = app.test_client()
    for _method, url in (page for page in pages if page[0] == "GET"):  # posts stop at the CSRF check first
        assert "/login" in anonymous.get(url).headers.get("Location", ""), url
    # nothing viewed, nothing changed: the only new events are the sign-ins and each denial itself
    new = {e.action for e in db_session.query(AuditEvent) if e.id not in before}
    assert new == {"auth.signed_in", "access.denied"}, new
    assert db_session.query(AuditEvent).filter_by(action="access.denied").count() == 2 * len(pages)
    assert db_set(db_session, set_id).state is SetState.CHANGES_REQUESTED


def verdict(photo_id: str, reject: bool = False) -> Any:
    from collection.review.models import RejectReason
    from collection.review.service import PhotoVerdict

    return PhotoVerdict(photo_id, False, RejectReason.BLURRED) if reject else PhotoVerdict(photo_id, True)


def accept_set(app: Any, operator: Any, campaign: Any, set_id: str, photo_ids: list[str]) -> None:
    """`operator` claims the set and accepts every photo through the review service (a ledger entry follows)."""
    with in_app(app) as s:
        from webapp.db import get_session

        photo_set = get_session().get(PhotoSet, set_id)
        s.review().claim(operator, photo_set)
        s.review().decide(operator, photo_set, [verdict(p) for p in photo_ids], campaign)


def _accepted_and_batched(app: Any, clock: Any, make_user: Any, campaign: Any, version: Any, operator: Any) -> str:
    """Another contributor's set accepted by `operator` and put in a payout batch: the batch id."""
    contributor, set_id, photo_ids = submitted_set(app, clock, make_user, campaign, version, start=40)
    accept_set(app, operator, campaign, set_id, photo_ids)
    with in_app(app) as s:
        s.payments().save_payout_account(contributor, "004", "김민지", "123456-78-901234")
        return str(s.payments().create_batch(operator).id)


# --- the whole loop, with the real upload path and gates ---------------------------------------------------


def upload(app: Any, contributor: Any, campaign: Any, bracket: str, variant: int, replaces: str | None = None) -> str:
    """One photo through the real upload service; the gate jobs run right after the commit (sync backend)."""
    with in_app(app) as s:
        photo = s.uploads().add_photo(
            contributor, campaign, bracket, face_photo(variant), age_years=AGES[bracket], replaces=replaces
        )
        return str(photo.id)


def photo_states(db_session: Any, ids: list[str]) -> list[PhotoState]:
    db_session.expire_all()
    return [db_session.get(Photo, i).state for i in ids]


@pytest.mark.slow
def test_the_whole_loop_rejection_replacement_reinspection_payment(
    app: Any, clock: Any, make_user: Any, ready: Any, db_session: Any
) -> None:
    campaign, version = ready
    contributor = make_user("contributor", name="김민지")
    set_id = enroll(app, contributor, campaign, version)
    brackets = [b["key"] for b in campaign.brackets for _ in range(b["photos"])]
    photo_ids = [upload(app, contributor, campaign, bracket, i) for i, bracket in enumerate(brackets)]
    assert photo_states(db_session, photo_ids) == [PhotoState.PASSED] * len(photo_ids)
    submit(app, clock, contributor, campaign)

    first, second = make_user("operator", locale="en"), make_user("operator", locale="en")
    one, two = signed_in(app, first), signed_in(app, second)
    claim(one, set_id)
    body = page(one.get(f"/operate/review/sets/{set_id}"))
    assert body.count('viewBox="0 0 480 480"') == len(photo_ids)  # the detector's face box over every photo
    rejection = {"decision": "reject", "reason": "blurred", "comment": "흐릿합니다"}
    data = decide_data(one, set_id, photo_ids, **{photo_ids[0]: rejection})
    resp = one.post(f"/operate/review/sets/{set_id}/decide", data=data)
    assert "Changes requested" in flashes(one.get(resp.headers["Location"]))[0]
    assert db_set(db_session, set_id).state is SetState.CHANGES_REQUESTED

    replacement = upload(app, contributor, campaign, brackets[0], 50, replaces=photo_ids[0])
    assert photo_states(db_session, [replacement]) == [PhotoState.PASSED]
    submit(app, clock, contributor, campaign)
    assert db_set(db_session, set_id).round == 2

    queue = two.get("/operate/review").text
    assert f'data-label="Photos">{len(photo_ids)}</td>' in queue  # the replaced photo is not counted again
    claim(two, set_id)
    body = page(two.get(f"/operate/review/sets/{set_id}"))
    assert "What changed in round 2" in body and body.count("new in this round") == 1
    assert f'<a href="#photo-{replacement}">#' in body and f"<code>{photo_ids[0][:8]}</code>" in body
    assert "Round 1" in body and "Decision history" in body
    current = [replacement, *photo_ids[1:]]
    resp = two.post(f"/operate/review/sets/{set_id}/decide", data=decide_data(two, set_id, current))
    assert "its payment is in the ledger" in flashes(two.get(resp.headers["Location"]))[0]
    assert db_set(db_session, set_id).state is SetState.ACCEPTED
    round_two = select(PhotoDecision).where(PhotoDecision.set_id == set_id, PhotoDecision.round == 2)
    assert [(d.photo_id, d.reviewer_id) for d in db_session.scalars(round_two)] == [(replacement, second.id)]

    payments = page(two.get("/operate/payments"))
    assert "김민지" not in payments and "1 entries (KRW 400,000) wait for the contributor's account" in payments
    me = signed_in(app, contributor)
    fields = {"bank": "011", "holder_name": "김민지", "account_number": "302-1234-5678-91"}
    assert me.post("/me/payout", data={"csrf_token": csrf_token(me, "/me/payout"), **fields}).status_code == 302
    payments = page(two.get("/operate/payments"))
    assert "김민지" in payments and "KRW 400,000" in payments
    token = csrf_token(two, "/operate/payments")
    batch_id = two.post("/operate/payments/batches", data={"csrf_token": token}).headers["Location"].rsplit("/", 1)[1]
    csv_text = two.post(f"/operate/payments/batches/{batch_id}/export", data={"csrf_token": token}).data
    rows = [line.split(",") for line in csv_text.decode("utf-8-sig").splitlines()]
    assert [(r[2], r[3], r[5], *r[7:]) for r in rows[1:]] == [
        (contributor.id, "김민지", "400000", "011", "NH농협은행", "김민지", "3021234567891")
    ]
    paid = f"/operate/payments/batches/{batch_id}/paid"
    first_mark = two.post(paid, data={"csrf_token": token, "confirm": "y"})
    assert "Marked paid: 1 entries." in flashes(two.get(first_mark.headers["Location"]))
    second_mark = two.post(paid, data={"csrf_token": token, "confirm": "y"})
    assert "This batch was already paid: nothing changed." in flashes(two.get(second_mark.headers["Location"]))
    assert db_set(db_session, set_id).state is SetState.PAID
    assert count(db_session, AuditEvent, AuditEvent.action == "payout.marked_paid") == 1


@pytest.mark.slow
def test_the_rejection_of_a_replaced_photo_stays_in_the_history(
    app: Any, clock: Any, make_user: Any, ready: Any, db_session: Any
) -> None:
    campaign, version = ready
    contributor, set_id, photo_ids = submitted_set(app, clock, make_user, campaign, version)
    operator = make_user("operator", locale="en")
    with in_app(app) as s:
        from webapp.db import get_session

        photo_set = get_session().get(PhotoSet, set_id)
        s.review().claim(operator, photo_set)
        s.review().decide(operator, photo_set, [verdict(p, p == photo_ids[0]) for p in photo_ids], campaign)
    upload(app, contributor, campaign, campaign.brackets[0]["key"], 60, replaces=photo_ids[0])
    rejected = select(PhotoDecision).where(PhotoDecision.photo_id == photo_ids[0])
    assert [d.decision.value for d in db_session.scalars(rejected)] == ["reject"]


def test_a_claim_rereads_the_set_so_a_stale_copy_cannot_take_it_over(
    app: Any, clock: Any, make_user: Any, ready: Any
) -> None:
    from collection.errors import InvalidTransition
    from webapp.db import get_session

    campaign, version = ready
    _, set_id, _ = submitted_set(app, clock, make_user, campaign, version)
    first, second = make_user("operator"), make_user("operator")
    with in_app(app) as s:
        stale = get_session().get(PhotoSet, set_id)  # the second operator's request read the set first...
        assert stale.claimed_by is None
        with app.app_context():  # ...then the first operator's request (its own session) claimed it and committed
            s.review().claim(first, get_session().get(PhotoSet, set_id))
            get_session().commit()
        with pytest.raises(InvalidTransition):
            s.review().claim(second, stale)
        assert stale.claimed_by == first.id


def test_no_appeal_is_filed_or_decided_while_processing_is_suspended(
    app: Any, clock: Any, make_user: Any, ready: Any, db_session: Any
) -> None:
    from collection.compliance.models import RightsKind
    from collection.compliance.rights import RightsService

    campaign, version = ready
    contributor, set_id, photo_ids = submitted_set(app, clock, make_user, campaign, version)
    first, second = make_user("operator", locale="en"), make_user("operator", locale="en")
    one = signed_in(app, first)
    claim(one, set_id)
    rejection = {"decision": "reject", "reason": "different_person", "comment": "다른 사람으로 보입니다"}
    one.post(
        f"/operate/review/sets/{set_id}/decide", data=decide_data(one, set_id, photo_ids, **{photo_ids[0]: rejection})
    )
    with in_app(app) as s:
        from webapp.db import get_session

        appeal_id = s.review().appeal(contributor, get_session().get(Photo, photo_ids[0]), "제 사진입니다").id
    officer = make_user("compliance")
    with in_app(app) as s:
        from webapp.db import get_session

        rights = RightsService(get_session(), s.clock(), s.audit(), s.erasure())
        request = rights.submit(contributor, RightsKind.SUSPENSION, campaign.id, "잠시 멈춰 주세요")
        rights.start(officer, request)
        rights.complete(officer, request, "정지함")

    two = signed_in(app, second)
    token = csrf_token(two, "/operate/review/appeals")
    prefix = f"a_{appeal_id}-"
    resp = two.post(
        f"/operate/review/appeals/{appeal_id}/decide",
        data={prefix + "outcome": "overturn", prefix + "answer": "맞습니다", prefix + "csrf_token": token},
    )
    assert resp.status_code == 409
    assert "suspended at the contributor's request: the appeal cannot be decided" in flashes(resp)[0]
    db_session.expire_all()
    assert db_session.get(Appeal, appeal_id).state is AppealState.OPEN
    assert db_session.get(Photo, photo_ids[0]).state is PhotoState.REJECTED


def test_a_suspended_contributor_is_offered_no_appeal(
    app: Any, clock: Any, make_user: Any, ready: Any, db_session: Any
) -> None:
    from collection.compliance.models import RightsKind
    from collection.compliance.rights import RightsService
    from collection.errors import ConsentRequired

    campaign, version = ready
    contributor, set_id, photo_ids = submitted_set(app, clock, make_user, campaign, version)
    one = signed_in(app, make_user("operator", locale="en"))
    claim(one, set_id)
    rejection = {"decision": "reject", "reason": "different_person", "comment": "다른 사람으로 보입니다"}
    one.post(
        f"/operate/review/sets/{set_id}/decide", data=decide_data(one, set_id, photo_ids, **{photo_ids[0]: rejection})
    )
    own = signed_in(app, contributor)
    api = f"/api/v1/campaigns/{campaign.slug}/set"

    def offered() -> bool:
        body = own.get(api).get_json()
        photos = [p for b in body["brackets"] for p in b["photos"] if p["id"] == photo_ids[0]]
        return bool(photos[0]["actions"]["appeal"])

    assert offered()
    officer = make_user("compliance")
    with in_app(app) as s:
        from webapp.db import get_session

        rights = RightsService(get_session(), s.clock(), s.audit(), s.erasure())
        request = rights.submit(contributor, RightsKind.SUSPENSION, campaign.id, "잠시 멈춰 주세요")
        rights.start(officer, request)
        rights.complete(officer, request, "정지함")
    assert not offered()
    with in_app(app) as s, pytest.raises(ConsentRequired):
        from webapp.db import get_session

        s.review().appeal(contributor, get_session().get(Photo, photo_ids[0]), "제 사진입니다")
    set_page = f"/me/campaigns/{campaign.slug}/set"
    stale = own.post(f"/me/photos/{photo_ids[0]}/appeal",  # from a stale page: the real reason shows
                     data={"note": "제 사진입니다", "csrf_token": csrf_token(own, set_page)}, follow_redirects=True)
    assert "정지되어 있어" in stale.text and "이의를 제기할 수 없습니다" not in stale.text
    assert count(db_session, Appeal) == 0
