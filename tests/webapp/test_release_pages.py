"""The release pages: operators draft and build, compliance officers see the verification report, approve only
a verified release (refusals name the failures), download it (each download audited) and read the signed
withdrawal lists."""

from __future__ import annotations

import base64
import html
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from anonymize import read_withdrawal_list
from collection.audit.models import AuditEvent
from collection.job_queues import NullQueue
from collection.releases import Release, ReleaseState
from collection.releases.jobs import queue_build
from tests.collection.flow_support import MASTER, build_env, publish_notice
from tests.collection.test_releases import WITH_RELEASE, add_accepted_set, draft, service, stored
from tests.conftest import DEMO_PASSWORD, csrf_token
from webapp.background import get as background
from webapp.demo_media import face_photo

pytestmark = pytest.mark.config(master_key=base64.b64encode(MASTER).decode())


@pytest.fixture()
def env(db_session: Any, test_sessionmaker: Any, clock: Any) -> Any:
    return build_env(db_session, test_sessionmaker, clock)


@pytest.fixture()
def world(app: Any, env: Any, make_campaign: Any, make_user: Any) -> dict[str, Any]:
    """A campaign with one consenting contributor whose accepted photo the app can read."""
    campaign = make_campaign()
    version = publish_notice(env, campaign)
    contributor = make_user("contributor")
    blobs = background(app).blobs
    add_accepted_set(env, contributor, campaign, version, [stored(face_photo(2, size=240))], WITH_RELEASE, blobs)
    return {"campaign": campaign, "contributor": contributor, "blobs": blobs}


def signed_in(app: Any, user: Any) -> Any:
    client = app.test_client()
    resp = client.post(
        "/login", data={"email": user.email, "password": DEMO_PASSWORD, "csrf_token": csrf_token(client, "/login")}
    )
    assert resp.status_code == 302
    return client


def post(client: Any, url: str, data: dict[str, Any] | None = None, page: str = "/comply/releases") -> Any:
    return client.post(url, data={"csrf_token": csrf_token(client, page), **(data or {})}, follow_redirects=True)


def built(env: Any, world: dict[str, Any], tmp_path: Path, builder: Any) -> Release:
    svc = service(env, tmp_path, blobs=world["blobs"])
    release = draft(svc, world["campaign"], actor=builder)
    svc.build(builder, release, tmp_path / "release.zip")
    env.session.commit()
    return release


def audit(env: Any, action: str) -> list[AuditEvent]:
    return list(env.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_operator_drafts_a_release(app: Any, env: Any, world: dict[str, Any], make_user: Any) -> None:
    operator = make_user("operator", locale="en")
    client = signed_in(app, operator)
    page = client.get("/operate/releases/new").get_data(as_text=True)
    assert world["campaign"].slug in page and 'value="age_bracket"' in page
    assert 'value="gender"' not in page and 'value="region"' not in page  # no campaign collects them
    assert 'name="include_voice"' not in page  # no campaign collects recordings either
    form = {"campaign": world["campaign"].slug, "licensee": "Seoul AI Lab", "fields": ["age_bracket"]}
    refused = post(client, "/operate/releases/new", form | {"purpose": "Mail dpo@lab.example"}, "/operate/releases/new")
    said = refused.get_data(as_text=True)
    assert "Take the personal data out of this text (it holds an email address)" in said
    assert env.session.query(Release).count() == 0
    korean = signed_in(app, make_user("operator"))  # every campaign-dependent problem at once, in Korean
    asked = {"purpose": "연구", "fields": ["age_bracket", "gender", "region"], "include_voice": "y"}
    page = post(korean, "/operate/releases/new", form | asked, "/operate/releases/new").get_data(as_text=True)
    assert "성별" in page and "지역" in page  # a forged choice is refused, in Korean
    assert "이 캠페인은 음성 녹음을 수집하지 않습니다" in page
    assert "does not collect" not in page and env.session.query(Release).count() == 0
    resp = post(client, "/operate/releases/new", form | {"purpose": "Face ageing research"}, "/operate/releases/new")
    html = resp.get_data(as_text=True)
    release = env.session.scalars(select(Release)).one()
    assert release.fields == ["age_bracket"] and release.created_by == operator.id
    assert "Seoul AI Lab" in html and "Build and verify" in html
    assert release.id[:8] in client.get("/operate/releases").get_data(as_text=True)


def test_approval_is_refused_until_verification_passes(
    app: Any, env: Any, world: dict[str, Any], make_user: Any, tmp_path: Path
) -> None:
    officer = signed_in(app, make_user("compliance", locale="en"))
    svc = service(env, tmp_path, blobs=world["blobs"])
    pending = draft(svc, world["campaign"])
    resp = post(officer, f"/comply/releases/{pending.id}/approve")
    assert "Approval refused" in resp.get_data(as_text=True) and pending.state is ReleaseState.DRAFT

    release = built(env, world, tmp_path, make_user("operator", locale="en"))
    with zipfile.ZipFile(tmp_path / "release.zip", "a") as package:
        package.writestr("media/extra.jpg", b"not in the manifest")
    html = post(officer, f"/comply/releases/{release.id}/verify").get_data(as_text=True)
    env.session.refresh(release)
    assert release.state is ReleaseState.VERIFY_FAILED
    assert "media file not in the manifest" in html and "media/extra.jpg" in html
    html = post(officer, f"/comply/releases/{release.id}/approve").get_data(as_text=True)
    assert "Approval refused" in html and "verification has not passed" in html
    assert audit(env, "release.approved") == []


def test_approval_and_each_download_are_audited(
    app: Any, env: Any, world: dict[str, Any], make_user: Any, tmp_path: Path
) -> None:
    user = make_user("compliance", locale="en")
    officer = signed_in(app, user)
    release = built(env, world, tmp_path, make_user("operator", locale="en"))
    page = officer.get(f"/comply/releases/{release.id}").get_data(as_text=True)
    assert "Approve for delivery" in page and "passed" in page
    assert officer.get("/comply/releases").status_code == 200
    assert "1 items showing 1 people" in page and 'name="confirm"' in page  # what approval makes downloadable
    unticked = post(officer, f"/comply/releases/{release.id}/approve").get_data(as_text=True)
    assert "Nothing was approved" in unticked and audit(env, "release.approved") == []
    approved = post(officer, f"/comply/releases/{release.id}/approve", {"confirm": "y"})
    assert "Release approved" in approved.get_data(as_text=True)
    for _ in range(2):
        resp = officer.post(
            f"/comply/releases/{release.id}/download", data={"csrf_token": csrf_token(officer, "/comply/releases")}
        )
        data = resp.get_data()
        resp.close()
        assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            assert "manifest.jsonl" in package.namelist()
    env.session.expire_all()
    assert [e.actor_id for e in audit(env, "release.approved")] == [user.id]
    assert [e.actor_id for e in audit(env, "release.downloaded")] == [user.id, user.id]


def test_release_page_shows_signed_withdrawal_lists(
    app: Any, env: Any, world: dict[str, Any], make_user: Any, tmp_path: Path
) -> None:
    release = built(env, world, tmp_path, make_user("operator", locale="en"))
    contributor, campaign = world["contributor"], world["campaign"]
    env.consent.withdraw(contributor.subject_id, campaign.id, None)
    svc = service(env, tmp_path, blobs=world["blobs"])
    svc.record_withdrawal(contributor.subject_id, campaign.id)
    env.session.commit()
    officer = signed_in(app, make_user("compliance", locale="en"))
    html = officer.get(f"/comply/releases/{release.id}").get_data(as_text=True)
    assert "#1" in html and "withdrew after this release was built" in html and "Approve for delivery" not in html
    listing = officer.get("/comply/releases").get_data(as_text=True)  # the list says what the page says
    assert "erasure requested: cannot be delivered" in listing
    link = re.search(r'href="(/comply/releases/[^"]+/withdrawals/1)"', html)
    assert link is not None
    document = officer.get(link.group(1)).data
    listed = read_withdrawal_list(document, svc.public_keys())
    assert listed.subject_ids == (svc.pseudonymizer(release).subject_id(contributor.subject_id),)
    assert officer.get(f"/comply/releases/{release.id}/withdrawals/9").status_code == 404
    operator_page = signed_in(app, make_user("operator", locale="en")).get(f"/operate/releases/{release.id}")
    assert "#1" in operator_page.get_data(as_text=True)


@pytest.mark.slow
def test_operator_builds_from_the_page_and_it_is_verified(
    app: Any, env: Any, world: dict[str, Any], make_user: Any, tmp_path: Path
) -> None:
    operator = make_user("operator", locale="en")
    client = signed_in(app, operator)
    svc = service(env, tmp_path, blobs=world["blobs"])
    release = draft(svc, world["campaign"], actor=operator)
    html = post(client, f"/operate/releases/{release.id}/build", page=f"/operate/releases/{release.id}").get_data(
        as_text=True
    )
    env.session.refresh(release)
    assert release.state is ReleaseState.VERIFIED, release.verify_report
    assert "Built and verified" in html and release.package_path.endswith(".zip")
    assert "k achieved (people per group)" in html and "Generalised" in html  # what k-anonymity did, in the open
    assert release.verify_report["checks"]["faces"] == "passed"
    assert "No bystander face left" in html and "<code>k_anonymity</code>" not in html  # checks named in words
    officer = signed_in(app, make_user("compliance", locale="en"))
    approval = officer.get(f"/comply/releases/{release.id}").get_data(as_text=True)
    assert "k achieved (people per group)" in approval and "Rows suppressed for k-anonymity" in approval
    # one contributor, k = 5: the page says faces identify people whatever the side table says
    assert "Only 1, fewer than k = 5" in approval and "Released fields</dt><dd>Age bracket" in approval
    release.build_summary = {**release.build_summary, "k_achieved": 0, "suppressed_count": 6}
    env.session.commit()  # every row suppressed: "k 0" read as a failure next to a passing check
    again = client.get(f"/operate/releases/{release.id}").get_data(as_text=True)
    assert "every row was suppressed, so the released fields say nothing" in again


def test_while_the_build_job_waits_the_page_says_so_and_refreshes(
    app: Any, env: Any, world: dict[str, Any], make_user: Any, tmp_path: Path
) -> None:
    operator = make_user("operator", locale="en")
    client = signed_in(app, operator)
    release = draft(service(env, tmp_path, blobs=world["blobs"]), world["campaign"], actor=operator)
    queue = NullQueue(background(app).registry, env.clock)  # written, not run yet: as when workers are busy
    queue_build(queue, env.session, release, operator)
    env.session.commit()
    html = client.get(f"/operate/releases/{release.id}").get_data(as_text=True)
    assert "Building" in html and "Waiting for a worker" in html
    assert '<meta http-equiv="refresh" content="10">' in html and "Build and verify" not in html
    again = post(client, f"/operate/releases/{release.id}/build", page=f"/operate/releases/{release.id}")
    assert "Building in the background" in again.get_data(as_text=True)  # the same job, not a second one
    assert len(queue.dispatched) == 1


def test_a_build_that_cannot_be_done_is_explained_on_the_page(
    app: Any, env: Any, make_campaign: Any, make_user: Any, tmp_path: Path
) -> None:
    campaign = make_campaign()
    publish_notice(env, campaign)  # nobody has given anything yet
    operator = make_user("operator", locale="en")
    client = signed_in(app, operator)
    release = draft(service(env, tmp_path), campaign, actor=operator)
    html = post(client, f"/operate/releases/{release.id}/build", page=f"/operate/releases/{release.id}").get_data(
        as_text=True
    )
    assert "The last build did not finish" in html and "Build and verify" in html
    env.session.refresh(release)
    assert release.state is ReleaseState.DRAFT and release.build_summary["build_error"]["kind"] == "NothingToRelease"


def test_refusals_and_a_failed_build_are_said_in_korean(
    app: Any, env: Any, make_campaign: Any, make_user: Any, tmp_path: Path
) -> None:
    campaign = make_campaign()
    publish_notice(env, campaign)  # nobody has given anything yet
    operator = make_user("operator")  # a Korean account
    release = draft(service(env, tmp_path), campaign, actor=operator)
    page = f"/operate/releases/{release.id}"
    said = html.unescape(post(signed_in(app, operator), f"{page}/build", page=page).get_data(as_text=True))
    assert "지난 생성이 끝나지 못했습니다: 릴리스할 항목이 없습니다" in said and "nothing to release" not in said

    officer = signed_in(app, make_user("compliance"))
    said = html.unescape(post(officer, f"/comply/releases/{release.id}/approve").get_data(as_text=True))
    assert "승인할 수 없습니다: 릴리스가 아직 생성되지 않았습니다." in said and "not built yet" not in said
    said = html.unescape(post(officer, f"/comply/releases/{release.id}/download").get_data(as_text=True))
    assert "패키지를 내려받을 수 없습니다: 승인되지 않았습니다." in said and "cannot be downloaded" not in said
    said = html.unescape(post(officer, f"/comply/releases/{release.id}/verify").get_data(as_text=True))
    assert "먼저 릴리스를 생성하세요." in said and "before verifying" not in said


def test_verification_failures_are_said_in_the_readers_language(
    app: Any, env: Any, world: dict[str, Any], make_user: Any, tmp_path: Path
) -> None:
    release = built(env, world, tmp_path, make_user("operator", locale="en"))
    stray = "media/010-1234-5678.jpg"  # not in the manifest, and a phone number as its name
    with zipfile.ZipFile(tmp_path / "release.zip", "a") as package:
        package.writestr(stray, b"not in the manifest")
        package.writestr("notes.txt", b"hello")
    korean = signed_in(app, make_user("compliance"))  # a Korean account
    said = html.unescape(post(korean, f"/comply/releases/{release.id}/verify").get_data(as_text=True))
    env.session.refresh(release)
    failures = release.verify_report["failures"]
    assert {(f["file"], f["code"]) for f in failures} == {
        (stray, "not_in_manifest"), (stray, "pii_in_file_name"), ("notes.txt", "unexpected_file")
    }
    assert "목록(manifest)에 없는 미디어 파일" in said and "패키지에 들어 있으면 안 되는 파일" in said
    assert "파일 이름에 개인정보로 보이는 내용이 있음: 전화번호" in said and stray in said
    assert "media file not in the manifest" not in said and "phone pattern" not in said
    operator = signed_in(app, make_user("operator"))
    assert "목록(manifest)에 없는 미디어 파일" in html.unescape(
        operator.get(f"/operate/releases/{release.id}").get_data(as_text=True)
    )

    english = signed_in(app, make_user("compliance", locale="en"))
    said = html.unescape(english.get(f"/comply/releases/{release.id}").get_data(as_text=True))
    assert "media file not in the manifest" in said and "unexpected file in the package" in said
    assert "the file name looks like it holds personal data: a phone number" in said and "목록" not in said

    # A report stored before failures carried codes, and a code whose numbers are missing: the English detail.
    old = [{k: f[k] for k in ("check", "file", "detail")} for f in failures]
    odd = {"check": "k_anonymity", "file": "manifest.jsonl", "detail": "the rarest signature is shared by 2",
           "code": "k_too_low", "params": {}}
    release.verify_report = {**release.verify_report, "failures": [*old, odd]}
    env.session.commit()
    said = html.unescape(korean.get(f"/comply/releases/{release.id}").get_data(as_text=True))
    assert "media file not in the manifest" in said and "file name holds a phone pattern" in said
    assert "the rarest signature is shared by 2" in said and "목록(manifest)에 없는 미디어 파일" not in said


def test_a_build_error_stored_before_its_reasons_were_kept_is_shown_as_worded(app: Any) -> None:
    from webapp.release_words import build_error_text

    old = {"message": "release abc: nothing to release (consent_withdrawn: 2, erased: 1)",
           "kind": "NothingToRelease", "at": "2026-11-01T00:00:00Z"}  # no "excluded": it would read "none yet"
    with app.test_request_context(headers={"Accept-Language": "ko"}):
        assert build_error_text(old) == old["message"]
        assert "조건에 맞는 참여자가 없습니다" in build_error_text(old | {"excluded": {"erased": 1}})
        assert "아직 승인된 사진이나 녹음이 없습니다" in build_error_text(old | {"excluded": {}})


def test_a_folder_package_is_not_offered_as_a_download_and_the_page_says_why(
    app: Any, env: Any, world: dict[str, Any], make_user: Any, tmp_path: Path
) -> None:
    """A release built from the command line as a folder: the page says it is a folder (not that it is gone and must
    be built again)."""
    svc = service(env, tmp_path, blobs=world["blobs"])
    release = draft(svc, world["campaign"], actor=make_user("operator", locale="en"))
    svc.build(None, release, tmp_path / "release-folder")
    env.session.commit()
    assert (tmp_path / "release-folder").is_dir()
    officer = signed_in(app, make_user("compliance", locale="en"))
    assert "Release approved" in post(officer, f"/comply/releases/{release.id}/approve", {"confirm": "y"}).get_data(
        as_text=True)
    said = html.unescape(post(officer, f"/comply/releases/{release.id}/download").get_data(as_text=True))
    assert "the package is a folder, not a single file: build it as a .zip to download it here" in said
    assert "build the release again" not in said
    korean = signed_in(app, make_user("compliance"))
    said = html.unescape(post(korean, f"/comply/releases/{release.id}/download").get_data(as_text=True))
    assert "폴더" in said and "not a single file" not in said


def test_a_failed_build_is_said_without_internals(app: Any) -> None:
    """The stored error of a failed build is worded by its code: the underlying error (file names, blob keys) stays
    in the server log."""
    from webapp.release_words import build_error_text

    leaky = {"kind": "ReleaseBuildFailed", "code": "store_failed",
             "message": "release r1 could not be built: the package could not be kept in the blob store"}
    with app.test_request_context(headers={"Accept-Language": "ko"}):
        worded = build_error_text(leaky)
        assert "블롭 저장소" in worded or "저장소" in worded
        assert "releases/" not in worded and "StorageBackendError" not in worded
        assert "다시 빌드" in build_error_text(leaky | {"code": "data_changed"})

