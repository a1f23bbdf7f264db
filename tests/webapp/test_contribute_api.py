"""The contributor JSON API (/api/v1) the set page's JavaScript uses, with real face photos (variants of an
installed package's sample photo) and real gates run right after each commit: upload and see the gate result,
duplicate and bad-file refusals in Korean and English, remove and replace, asking a person, submission refused
then accepted, a voice recording, CSRF and other contributors' photos."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import pytest

from tests.webapp.contribute_support import (
    ADULT,
    PROMPTS,
    csrf,
    give_consent,
    publish,
    small_campaign,
    speech_like_wav,
    switch_language,
)
from webapp.demo_media import blank_photo, face_photo


@pytest.fixture()
def campaign(make_campaign: Any, app: Any) -> Any:
    c = small_campaign(make_campaign, voice_prompts=PROMPTS)
    publish(app, c)
    return c


@pytest.fixture()
def contributor(app: Any, client: Any, campaign: Any, make_user: Any, login: Any) -> Any:
    user = make_user("contributor", birth=ADULT)
    login(user)
    give_consent(app, user, campaign)
    resp = client.post(f"/me/campaigns/{campaign.slug}/join", data={"csrf_token": csrf(client, "/me/")})
    assert resp.status_code == 302
    return user


class Api:
    """A client that sends the page's CSRF token in the X-CSRFToken header, like upload.js."""

    def __init__(self, client: Any, campaign: Any) -> None:
        self.client, self.slug = client, campaign.slug
        self.token = csrf(client, f"/me/campaigns/{campaign.slug}/set")

    @property
    def headers(self) -> dict[str, str]:
        return {"X-CSRFToken": self.token, "Accept": "application/json"}

    def status(self) -> dict[str, Any]:
        resp = self.client.get(f"/api/v1/campaigns/{self.slug}/set")
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    def upload(self, bracket: str, data: bytes, name: str = "photo.jpg", **extra: str) -> Any:
        form = {"bracket": bracket, "file": (io.BytesIO(data), name), **extra}
        return self.client.post(
            f"/api/v1/campaigns/{self.slug}/set/photos",
            data=form,
            headers=self.headers,
            content_type="multipart/form-data",
        )

    def submit(self) -> Any:
        return self.client.post(f"/api/v1/campaigns/{self.slug}/set/submit", headers=self.headers)

    def voice(self, data: bytes, prompt: str = "p1") -> Any:
        return self.client.post(
            f"/api/v1/campaigns/{self.slug}/set/voice/{prompt}",
            data={"audio": (io.BytesIO(data), "take.wav")},
            headers=self.headers,
            content_type="multipart/form-data",
        )


@pytest.fixture()
def api(client: Any, campaign: Any, contributor: Any) -> Api:
    return Api(client, campaign)


def photos(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for b in status["brackets"] for p in b["photos"]}


def test_status_describes_the_empty_set(api: Api) -> None:
    status = api.status()
    assert status["state"] == "draft" and status["editable"] and not status["ready"] and not status["checking"]
    assert [(b["key"], b["required"], b["usable"]) for b in status["brackets"]] == [("0-9", 1, 0), ("20-29", 1, 0)]
    assert [m["code"] for m in status["missing"]] == ["bracket:0-9:needs:1", "bracket:20-29:needs:1", "voice:p1"]
    assert status["missing"][0]["text"] == "0–9세: 사진 1장을 더 올려 주세요."
    assert status["voice"][0]["text"] == PROMPTS[0]["text_ko"] and status["voice"][0]["clip"] is None


def test_writes_need_the_csrf_header(client: Any, campaign: Any, contributor: Any) -> None:
    resp = client.post(f"/api/v1/campaigns/{campaign.slug}/set/submit")
    assert resp.status_code == 400 and resp.get_json()["error"] == "csrf"


def test_not_enrolled_is_a_plain_refusal(client: Any, make_campaign: Any, make_user: Any, login: Any) -> None:
    other = small_campaign(make_campaign)
    login(make_user("contributor", locale="en"))
    switch_language(client, "en")
    resp = client.get(f"/api/v1/campaigns/{other.slug}/set")
    assert resp.status_code == 409
    assert resp.get_json() == {
        "error": "not_eligible",
        "reason": "not_enrolled",
        "message": "You have not joined this campaign yet.",
        "advice": "Open the campaign page and choose “Join”.",
    }


@pytest.mark.slow
def test_upload_a_face_and_see_the_gates_pass(api: Api) -> None:
    resp = api.upload("0-9", face_photo(1), age_years="8")
    assert resp.status_code == 201
    photo = resp.get_json()["photo"]
    # the gates ran right after the commit: the answer already carries the result
    assert photo["state"] == "passed", photo["notes"]
    assert photo["state_label"] == "검사 통과" and photo["age_label"] == "8세 (직접 입력)"
    assert photo["actions"] == {"delete": True, "replace": True, "request_review": False, "appeal": False}
    status = api.status()
    assert status["brackets"][0]["usable"] == 1 and status["brackets"][0]["count_label"] == "사진 1장 중 1장 완료"
    thumb = api.client.get(photo["thumb_url"])
    assert thumb.status_code == 200 and thumb.data[:2] == b"\xff\xd8"


@pytest.mark.slow
def test_a_photo_without_a_face_fails_in_plain_words_and_can_go_to_a_person(api: Api) -> None:
    switch_language(api.client, "en")
    photo = api.upload("0-9", blank_photo(seed=3), age_years="4").get_json()["photo"]
    assert photo["state"] == "failed" and photo["state_label"] == "Did not pass: replace it"
    texts = [n["text"] for n in photo["notes"]]
    assert "We could not find a face in this photo." in texts
    assert all(n["advice"] for n in photo["notes"]) and photo["actions"]["request_review"]
    codes = [m["code"] for m in api.status()["missing"]]
    assert "bracket:0-9:blocking:1" in codes  # the bracket (one photo) is full: replace it, nothing to add
    assert not any(c.startswith("bracket:0-9:needs") for c in codes)
    label = next(b["count_label"] for b in api.status()["brackets"] if b["key"] == "0-9")
    assert label == "0 of 1 photos ready · 1 to replace"  # checked, and it did not pass: nothing still checking
    page = api.client.get(f"/me/campaigns/{api.slug}/set").get_data(as_text=True)
    assert re.search(r'data-role="fix-hint">', page) and re.search(r'data-role="full-hint" hidden', page)
    resp = api.client.post(
        f"/api/v1/photos/{photo['id']}/review", json={"note": "I am behind the balloon"}, headers=api.headers
    )
    assert resp.status_code == 200
    sent = resp.get_json()["photo"]
    assert sent["state"] == "needs_review" and sent["your_note"] == "I am behind the balloon"
    assert not any(m["code"].startswith("bracket:0-9") for m in api.status()["missing"])  # no longer blocks
    bracket = next(b for b in api.status()["brackets"] if b["key"] == "0-9")
    assert bracket["with_person"] == 1  # usable, but not passed: the count says so
    assert bracket["count_label"] == "1 of 1 photos ready (1 of them to be checked by a person)"
    again = api.client.post(f"/api/v1/photos/{photo['id']}/review", json={"note": "again"}, headers=api.headers)
    assert again.status_code == 409 and again.get_json()["error"] == "invalid_transition"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("ko", "이 사진 또는 거의 같은 사진이 이미 세트에 있습니다 (0–9세)."),
        ("en", "This photo, or one nearly identical to it, is already in your set (ages 0–9)."),
    ],
)
def test_a_duplicate_is_refused_with_a_clear_message(api: Api, lang: str, message: str) -> None:
    switch_language(api.client, lang)
    first = api.upload("0-9", face_photo(3), age_years="8").get_json()["photo"]
    resp = api.upload("20-29", face_photo(3), age_years="25")
    body = resp.get_json()
    assert resp.status_code == 409 and body["error"] == "duplicate_photo" and body["message"] == message
    assert body["photo_id"] == first["id"] and body["advice"]


@pytest.mark.parametrize(
    ("lang", "message", "advice"),
    [
        (
            "ko",
            "이 파일은 사진으로 읽을 수 없습니다.",
            "카메라나 갤러리에 있는 JPEG, PNG, WebP, HEIC 사진을 그대로 올려 주세요.",
        ),
        (
            "en",
            "This file could not be read as a photo.",
            "Upload a JPEG, PNG, WebP or HEIC photo straight from your camera or gallery.",
        ),
    ],
)
def test_a_bad_file_is_refused_with_what_to_do(api: Api, lang: str, message: str, advice: str) -> None:
    switch_language(api.client, lang)
    resp = api.upload("0-9", b"GIF89a not really", name="anim.gif")
    assert resp.status_code == 422
    assert resp.get_json()["message"] == message and resp.get_json()["advice"] == advice
    assert photos(api.status()) == {}


def test_form_errors_name_the_field(api: Api) -> None:
    resp = api.client.post(
        f"/api/v1/campaigns/{api.slug}/set/photos", data={"bracket": "0-9", "age_years": "-3"}, headers=api.headers
    )
    body = resp.get_json()
    assert resp.status_code == 400 and body["error"] == "invalid" and set(body["fields"]) == {"file", "age_years"}



def test_an_age_given_outside_the_bracket_or_above_ones_own_is_refused_with_the_reason(
    app: Any, client: Any, campaign: Any, make_user: Any, login: Any
) -> None:
    young = make_user("contributor", birth=dt.date(2001, 1, 1))  # 25 on the test clock
    login(young)
    give_consent(app, young, campaign)
    joined = client.post(f"/me/campaigns/{campaign.slug}/join", data={"csrf_token": csrf(client, "/me/")})
    assert joined.status_code == 302
    api = Api(client, campaign)
    switch_language(client, "ko")
    outside = api.upload("0-9", face_photo(1), age_years="50")
    body = outside.get_json()
    assert outside.status_code == 422 and body["reason"] == "age_outside_bracket"
    assert "50세" in body["message"] and "0세에서 9세" in body["message"]
    above = api.upload("20-29", face_photo(1), age_years="28")
    assert above.status_code == 422 and above.get_json()["reason"] == "age_above_own"
    assert "25세" in above.get_json()["message"]
    assert photos(api.status()) == {}  # nothing stored
    assert api.upload("0-9", face_photo(1), age_years="9").status_code == 201


@pytest.mark.slow
def test_remove_and_replace(api: Api, client: Any, make_user: Any, login: Any) -> None:
    first = api.upload("0-9", face_photo(5), age_years="6").get_json()["photo"]
    full = api.upload("0-9", face_photo(6), age_years="7")
    assert full.status_code == 422 and full.get_json()["reason"] == "bracket_full"
    replaced = api.upload("0-9", face_photo(6), age_years="7", replaces=first["id"])
    assert replaced.status_code == 201
    new = replaced.get_json()["photo"]
    assert list(photos(api.status())) == [new["id"]]
    assert api.client.get(first["thumb_url"]).status_code == 404  # the replaced photo is gone
    # another contributor cannot see or remove it
    client.post("/logout", data={"csrf_token": api.token})
    login(make_user("contributor"))
    assert client.get(new["thumb_url"]).status_code == 404
    token = csrf(client, "/me/")
    stranger = client.delete(f"/api/v1/photos/{new['id']}", headers={"X-CSRFToken": token})
    assert stranger.status_code == 404


@pytest.mark.slow
def test_submit_is_refused_until_complete_then_accepted(
    app: Any, client: Any, make_campaign: Any, make_user: Any, login: Any
) -> None:
    photos_only = small_campaign(make_campaign)  # a photo campaign: completeness does not hang on the voice gates
    publish(app, photos_only)
    user = make_user("contributor")
    login(user)
    give_consent(app, user, photos_only)
    client.post(f"/me/campaigns/{photos_only.slug}/join", data={"csrf_token": csrf(client, "/me/")})
    api = Api(client, photos_only)
    refused = api.submit()
    body = refused.get_json()
    assert refused.status_code == 409 and body["error"] == "set_not_ready"
    assert body["missing"] == ["bracket:0-9:needs:1", "bracket:20-29:needs:1"]
    assert "0–9세: 사진 1장을 더 올려 주세요." in body["advice"]
    api.upload("0-9", face_photo(7), age_years="8")
    assert api.submit().get_json()["missing"] == ["bracket:20-29:needs:1"]
    api.upload("20-29", face_photo(8), age_years="27")
    status = api.status()
    assert status["ready"], status["missing"]
    accepted = api.submit()
    assert accepted.status_code == 200
    assert accepted.get_json()["state"] == "submitted" and not accepted.get_json()["editable"]
    assert accepted.get_json()["state_label"] == "검수 대기 중"
    late = api.upload("0-9", face_photo(9), age_years="8")
    assert late.status_code == 409 and late.get_json()["error"] == "invalid_transition"


@pytest.mark.slow
def test_voice_upload_shows_the_gate_result(api: Api) -> None:
    switch_language(api.client, "en")
    resp = api.voice(speech_like_wav())
    assert resp.status_code == 201
    clip = resp.get_json()["clip"]
    assert clip["state"] in ("passed", "failed", "needs_review")  # checked already: not "checking"
    assert clip["duration_s"] == pytest.approx(3.0, abs=0.1)
    for note in clip["notes"]:  # whatever failed is said in words, with what to do
        assert note["text"] and note["advice"] and "_" not in note["text"]
    status = api.status()
    assert status["voice"][0]["clip"]["id"] == clip["id"]
    audio = api.client.get(clip["audio_url"])
    assert audio.status_code == 200 and audio.data[:4] == b"RIFF" and "no-store" in audio.headers["Cache-Control"]
    noise = api.voice(b"\x00" * 1000)
    assert noise.status_code == 422 and noise.get_json()["message"] == "This file could not be read as a recording."


def test_voice_needs_the_voice_consent(app: Any, client: Any, campaign: Any, make_user: Any, login: Any) -> None:
    user = make_user("contributor", locale="en")
    login(user)
    switch_language(client, "en")
    give_consent(app, user, campaign, {"collection": True, "sensitive": True, "release": False, "voice": False})
    client.post(f"/me/campaigns/{campaign.slug}/join", data={"csrf_token": csrf(client, "/me/")})
    api = Api(client, campaign)
    resp = api.voice(speech_like_wav())
    assert resp.status_code == 409 and resp.get_json()["error"] == "consent_required"
    assert resp.get_json()["message"] == "You have not consented to voice recording in this campaign."
    assert api.status()["voice_consented"] is False


# --- every reason code has words ------------------------------------------------------------------------------
GATE_CALL = re.compile(r'GateResult\.(?:fail|needs_review)\(\s*"(\w+)",\s*"(\w+)"')


def _reason_codes() -> tuple[set[tuple[str, str]], set[str]]:
    """(gate, reason) pairs the photo, identity and voice gates can return, read from their source, plus the
    codes whose value is computed: decode errors, pose axes, SNR methods, audio decode codes."""
    import quality_gates
    from quality_gates import errors

    root = Path(quality_gates.__file__).parent
    pairs = {m.groups() for f in root.glob("_*.py") for m in GATE_CALL.finditer(f.read_text(encoding="utf-8"))}
    pairs |= {("decode", cls.code) for cls in vars(errors).values() if isinstance(cls, type) and hasattr(cls, "code")}
    pairs |= {("pose", axis) for axis in ("yaw", "pitch", "roll")} | {("snr", "no_speech"), ("snr", "unmeasurable")}
    identity = (root / "_identity.py").read_text(encoding="utf-8")
    pairs |= {
        ("identity", r) for r in re.findall(r'IdentityVerdict\.(?:FLAG|REVIEW),\s*(?:None,\s*)?"(\w+)"', identity)
    }
    audio = {"too_large", "too_long", "unsupported_format", "no_audio", "corrupt"}
    return pairs, audio


def test_every_gate_reason_has_plain_words_in_both_languages(app: Any) -> None:
    from webapp.gate_messages import GATE_REASONS, VOICE_DECODE, gate_advice

    pairs, audio = _reason_codes()
    assert len(pairs) > 30 and {("identity", "different_person"), ("identity", "uncertain")} <= pairs
    assert pairs - set(GATE_REASONS) == set(), "reason codes without words in webapp/gate_messages.py"
    assert audio <= set(VOICE_DECODE)
    for lang in ("ko", "en"):
        with app.test_request_context(headers={"Accept-Language": lang}):
            for gate, reason in sorted(pairs):
                words = gate_advice(gate, reason)
                assert words.text and words.advice and reason not in words.text
                english = str(GATE_REASONS[(gate, reason)][0]._args[0])  # the msgid
                assert (words.text == english) is (lang == "en"), (gate, reason, words.text)
            assert gate_advice("decode", "corrupt", voice=True).text != gate_advice("decode", "corrupt").text


def test_a_photo_that_passes_with_other_people_in_it_says_what_happens_to_them(app: Any) -> None:
    from webapp.gate_messages import gate_notes

    found = {"name": "face_found", "passed": True, "reason": None,
             "measured": {"faces": 3, "other_face_ratio": 0.69}, "threshold": {"max_other_face_ratio": 0.7}}
    alone = found | {"measured": {"faces": 1, "other_face_ratio": 0.0}}
    with app.test_request_context(headers={"Accept-Language": "ko"}):
        [note] = gate_notes({"gates": [found]})
        assert note.verdict == "info" and "(2명)" in note.advice.text and "가립니다" in note.advice.advice
        assert gate_notes({"gates": [alone]}) == []


def test_an_undecided_check_on_a_photo_that_failed_does_not_promise_a_person_will_look(app: Any) -> None:
    from webapp.gate_messages import gate_notes

    blurry = {"name": "sharpness", "passed": False, "verdict": "fail", "reason": "blurry"}
    covered = {"name": "occlusion", "passed": False, "verdict": "review", "reason": "possibly_covered"}
    with app.test_request_context(headers={"Accept-Language": "ko"}):
        alone = gate_notes({"gates": [covered]})
        assert [n.verdict for n in alone] == ["review"] and "사람이 확인합니다" in alone[0].advice.advice
        notes = gate_notes({"gates": [covered, blurry]}, {"verdict": "review", "reason": "uncertain"},
                           to_replace=True)
        assert [n.verdict for n in notes] == ["fail", "review", "review"]
        assert not any("사람이 확인" in n.advice.advice for n in notes)
        assert all("다른 사진" in n.advice.advice for n in notes[1:])
        assert "녹음" in gate_notes({"gates": [covered, blurry]}, voice=True, to_replace=True)[1].advice.advice
        # sent to a person instead (or not failed): the undecided checks still say a person will look
        asked = gate_notes({"gates": [covered, blurry]}, to_replace=False)
        assert "사람이 확인합니다" in asked[1].advice.advice
        # a photo failed only by the identity comparison may go to a person: its other notes are left as they are
        flagged = gate_notes({"gates": [covered]}, {"verdict": "flag", "reason": "different_person"}, to_replace=True)
        assert "사람이 확인합니다" in next(n for n in flagged if n.gate == "occlusion").advice.advice


def test_a_storage_outage_is_a_clear_503_that_names_no_internal_key(api: Api, app: Any, monkeypatch: Any) -> None:
    from collection.errors import StorageBackendError
    from collection.storage import LocalBlobStore, MemoryBlobStore

    def failing(self: Any, key: str, data: bytes) -> None:
        raise StorageBackendError("put", key, "NoSuchBucket")

    for store in (LocalBlobStore, MemoryBlobStore):
        monkeypatch.setattr(store, "put", failing)
    resp = api.upload("0-9", face_photo(3), age_years="8")
    body = resp.get_json()
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "30"
    assert body["error"] == "storage_unavailable"
    assert "e/" not in body["message"] and "NoSuchBucket" not in body["message"]
    assert photos(api.status()) == {}  # nothing was kept of the upload
