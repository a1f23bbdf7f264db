"""`datadam release build|verify|approve|withdrawals|keys`, `datadam anonymize file` and `datadam bench release`
through the app's own CLI, on the test database with the real anonymization pipeline."""

from __future__ import annotations

import base64
import json
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from anonymize import read_withdrawal_list
from collection.releases import Release
from tests.collection.flow_support import MASTER, build_env, publish_notice
from tests.collection.test_releases import WITH_RELEASE, add_accepted_set, stored
from webapp.background import get as background
from webapp.demo_media import face_photo

pytestmark = pytest.mark.config(master_key=base64.b64encode(MASTER).decode())


@pytest.fixture()
def env(db_session: Any, test_sessionmaker: Any, clock: Any) -> Any:
    return build_env(db_session, test_sessionmaker, clock)


@pytest.fixture()
def accepted(app: Any, env: Any, make_campaign: Any, make_user: Any) -> tuple[Any, Any]:
    """A campaign with one contributor who consented to provision, stored where the app reads blobs."""
    campaign = make_campaign()
    version = publish_notice(env, campaign)
    user = make_user("contributor")
    add_accepted_set(
        env, user, campaign, version, [stored(face_photo(2, size=240))], WITH_RELEASE, background(app).blobs
    )
    return campaign, user


def _json(output: str) -> dict[str, Any]:
    return json.loads(output[output.index("{") :])


@pytest.mark.slow
def test_build_verify_tamper_withdraw_approve(
    runner: Any, env: Any, accepted: tuple[Any, Any], make_user: Any, tmp_path: Path
) -> None:
    campaign, user = accepted
    out = tmp_path / "release"
    result = runner.invoke(
        args=[
            "release",
            "build",
            "--campaign",
            campaign.slug,
            "--licensee",
            "Seoul AI Lab",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    built = _json(result.output)
    assert built["verified"] and built["items"] == 1 and built["subjects"] == 1 and built["failures"] == []

    result = runner.invoke(args=["release", "verify", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = _json(result.output)
    assert report["ok"] and report["checks"]["signature"] == "passed" and report["checks"]["faces"] == "passed"

    keys_file = tmp_path / "keys.json"
    assert runner.invoke(args=["release", "keys", "--out", str(keys_file)]).exit_code == 0
    (out / "manifest.csv").write_text((out / "manifest.csv").read_text() + "i-extra,s-x,photo,,,,,,\n")
    result = runner.invoke(args=["release", "verify", str(out), "--json", "--no-faces", "--keys", str(keys_file)])
    assert result.exit_code == 1
    failures = _json(result.output)["failures"]
    assert {f["check"] for f in failures} >= {"signature", "manifest"}
    assert any(f["file"] == "manifest.csv" for f in failures)

    release_id = built["release"]
    lists = tmp_path / "withdrawals.json"
    assert runner.invoke(args=["release", "withdrawals", "--release", release_id, "--out", str(lists)]).exit_code == 1
    env.consent.withdraw(user.subject_id, campaign.id, ["release"])
    from collection.releases import record_withdrawal

    record_withdrawal(env.consent, user.subject_id, campaign.id)
    env.session.commit()
    result = runner.invoke(args=["release", "withdrawals", "--release", release_id, "--out", str(lists)])
    assert result.exit_code == 0, result.output
    keys = {k: base64.b64decode(v) for k, v in json.loads(keys_file.read_text()).items()}
    listed = read_withdrawal_list(lists.read_bytes(), keys)
    assert listed.release_id == release_id and len(listed.subject_ids) == 1

    officer = make_user("compliance")
    result = runner.invoke(args=["release", "approve", "--release", release_id, "--officer", officer.email])
    assert result.exit_code == 1 and "cannot be approved" in result.output  # tampered and a withdrawal since
    assert env.session.get(Release, release_id).approved_at is None


def test_approve_refuses_before_verification_and_non_officers(
    runner: Any, env: Any, accepted: tuple[Any, Any], make_user: Any
) -> None:
    campaign, _ = accepted
    from collection.audit.log import AuditLog
    from collection.releases import ReleaseDraft, ReleaseService, ReleaseSettings

    svc = ReleaseService(
        env.session,
        env.clock,
        env.consent,
        env.vault,
        env.blobs,
        AuditLog(env.session, env.clock),
        MASTER,
        ReleaseSettings(Path("unused")),
    )
    release = svc.draft(None, ReleaseDraft(campaign, "Seoul AI Lab", "Research", ["age_bracket"]))
    env.session.commit()
    officer, operator = make_user("compliance"), make_user("operator")
    result = runner.invoke(args=["release", "approve", "--release", release.id, "--officer", officer.email])
    assert result.exit_code == 1 and "not built" in result.output
    result = runner.invoke(args=["release", "approve", "--release", release.id, "--officer", operator.email])
    assert result.exit_code == 1 and "compliance officer" in result.output
    result = runner.invoke(args=["release", "approve", "--release", "nope", "--officer", officer.email])
    assert result.exit_code == 1 and "not found" in result.output
    listing = runner.invoke(args=["release", "list"])
    assert release.id in listing.output and "draft" in listing.output


def test_build_refuses_an_unknown_campaign_and_nothing_to_release(
    runner: Any, env: Any, make_campaign: Any, tmp_path: Path
) -> None:
    result = runner.invoke(args=["release", "build", "--campaign", "nope", "--licensee", "X", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "not found" in result.output
    campaign = make_campaign()
    result = runner.invoke(
        args=["release", "build", "--campaign", campaign.slug, "--licensee", "X", "--out", str(tmp_path / "p")]
    )
    assert result.exit_code == 1 and "nothing to release" in result.output
    assert not (tmp_path / "p").exists() and env.session.query(Release).count() == 0


def test_anonymize_and_bench_are_mounted(runner: Any, tmp_path: Path) -> None:
    source, target = tmp_path / "in.wav", tmp_path / "out.flac"
    with wave.open(str(source), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes((np.sin(np.arange(8000) / 5) * 8000).astype("<i2").tobytes())
    result = runner.invoke(args=["anonymize", "file", str(source), str(target), "--json"])
    assert result.exit_code == 0, result.output
    assert _json(result.output)["format"].upper() == "FLAC" and target.read_bytes()[:4] == b"fLaC"
    assert runner.invoke(args=["anonymize", "file", str(tmp_path / "in.wav"), str(tmp_path / "o.txt")]).exit_code == 1
    assert "--photos" in runner.invoke(args=["bench", "release", "--help"]).output
