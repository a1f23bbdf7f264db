"""The daily orphan sweep at scale: a blob no row refers to goes once it is older than the safe age; a fresh one
(an upload or a package store whose row may be about to commit) and a referenced one stay; the run is audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from collection.audit.models import AuditEvent
from collection.contributions.models import Photo, PhotoState
from collection.contributions.uploads import blob_key, keyholder, sweep_orphan_blobs
from collection.orphans import SAFE_AGE, sweep_orphans
from collection.releases import Release
from collection.storage import MemoryBlobStore
from tests.collection.flow_support import build_env, consent_and_enroll, publish_notice


def _photo_row(env: Any, user: Any, campaign: Any) -> str:
    """An uploaded photo's row; returns the blob key it refers to."""
    photo_set = consent_and_enroll(env, user, campaign, publish_notice(env, campaign))
    photo = Photo(set_id=photo_set.id, campaign_id=campaign.id, user_id=user.id, bracket=campaign.brackets[0]["key"],
                  version=1, state=PhotoState.CHECKING, blob_key="", content_mac="0" * 64, created_at=env.clock.now())
    env.session.add(photo)
    env.session.flush()
    photo.blob_key = blob_key(keyholder(photo_set), "photo", photo.id, 1)
    env.session.commit()
    return photo.blob_key


def test_only_old_blobs_without_a_row_are_swept(
    db_session: Any, test_sessionmaker: Any, clock: Any, make_user: Any, make_campaign: Any
) -> None:
    env = build_env(db_session, test_sessionmaker, clock)
    blobs = MemoryBlobStore(now=clock.now)
    campaign = make_campaign()
    referenced = _photo_row(env, make_user("contributor"), campaign)
    release = Release(campaign_id=campaign.id, licensee="Lab", purpose="Research", created_at=clock.now(),
                      package_blob="releases/r1/aaaa/")
    db_session.add(release)
    db_session.commit()
    old = ["e/gone/photo/1.v1", "releases/r1/bbbb/000000"]  # an upload and a package store never committed
    for key in [referenced, "releases/r1/aaaa/000000", *old]:
        blobs.put(key, b"sealed")
    clock.advance(days=2)
    fresh = ["e/inflight/photo/2.v1", "releases/r2/cccc/000000"]  # their rows may be committing right now
    for key in fresh:
        blobs.put(key, b"sealed")
    clock.advance(hours=1)

    assert sweep_orphans(db_session, blobs, clock) == {"uploads": 1, "packages": 1}
    db_session.commit()
    assert sorted(blobs.iter_keys()) == sorted([referenced, "releases/r1/aaaa/000000", *fresh])
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "blobs.orphans_swept"))
    assert event.details["uploads"] == 1 and event.details["packages"] == 1

    clock.advance(seconds=SAFE_AGE.total_seconds())  # a day later the fresh orphans are old enough
    assert sweep_orphans(db_session, blobs, clock) == {"uploads": 1, "packages": 1}
    assert sorted(blobs.iter_keys()) == sorted([referenced, "releases/r1/aaaa/000000"])


def test_without_a_cut_off_every_unreferenced_upload_goes(
    db_session: Any, test_sessionmaker: Any, clock: Any, make_user: Any, make_campaign: Any
) -> None:
    """The embedded server's start-up sweep: one process, so no upload can be half-way."""
    env = build_env(db_session, test_sessionmaker, clock)
    blobs = MemoryBlobStore(now=clock.now)
    referenced = _photo_row(env, make_user("contributor"), make_campaign())
    blobs.put(referenced, b"sealed")
    blobs.put("e/gone/photo/1.v1", b"sealed")
    assert sweep_orphan_blobs(db_session, blobs) == 1
    assert sweep_orphan_blobs(db_session, blobs, written_before=clock.now() - dt.timedelta(days=1)) == 0
    assert list(blobs.iter_keys()) == [referenced]
