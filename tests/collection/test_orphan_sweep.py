"""The daily orphan sweep at scale: a blob no row refers to goes once it is older than the safe age; a fresh one
(an upload or a package store whose row may be about to commit) and a referenced one stay; the run is audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from collection.audit.models import AuditEvent
from collection.contributions.models import Photo, PhotoState
from collection.contributions.uploads import blob_key, keyholder
from collection.orphans import SAFE_AGE, sweep_orphans
from collection.releases import Release
from collection.storage import MemoryBlobStore
from tests.collection.flow_support import build_env, consent_and_enroll, publish_notice


def photo_row(env: Any, user: Any, campaign: Any) -> str:
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
    referenced = photo_row(env, make_user("contributor"), campaign)
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


class _WatchedStore(MemoryBlobStore):
    """A memory store that records whether the sweep's session held a transaction while it listed or deleted,
    and runs `after_listing` once the listing ends (what another process may commit meanwhile)."""

    def __init__(self, session: Any, now: Any) -> None:
        super().__init__(now=now)
        self.session = session
        self.in_transaction: list[bool] = []
        self.after_listing: Any = None

    def iter_blobs(self, prefix: str = "") -> Any:
        self.in_transaction.append(self.session.in_transaction())
        yield from super().iter_blobs(prefix)
        if self.after_listing is not None:
            self.after_listing()

    def delete(self, key: str) -> None:
        self.in_transaction.append(self.session.in_transaction())
        super().delete(key)


def test_the_sweep_holds_no_transaction_while_it_walks_and_deletes(
    db_session: Any, test_sessionmaker: Any, clock: Any, make_user: Any, make_campaign: Any
) -> None:
    env = build_env(db_session, test_sessionmaker, clock)
    referenced = photo_row(env, make_user("contributor"), make_campaign())
    blobs = _WatchedStore(db_session, clock.now)
    for key in [referenced, "e/gone/photo/1.v1", "releases/r9/dddd/000000"]:
        blobs.put(key, b"sealed")
    clock.advance(days=2)
    db_session.scalar(select(Photo.id).limit(1))  # the job's session has begun a transaction, as the runner's has
    assert sweep_orphans(db_session, blobs, clock) == {"uploads": 1, "packages": 1}
    db_session.commit()
    assert blobs.in_transaction and not any(blobs.in_transaction), blobs.in_transaction
    assert sorted(blobs.iter_keys()) == [referenced]


def test_a_blob_referred_to_again_since_the_listing_stays(
    db_session: Any, test_sessionmaker: Any, clock: Any, make_user: Any, make_campaign: Any
) -> None:
    """A re-run check writes the face encoding under its fixed key again and commits the row while the sweep lists."""
    env = build_env(db_session, test_sessionmaker, clock)
    referenced = photo_row(env, make_user("contributor"), make_campaign())
    encoding = referenced + ".enc"
    blobs = _WatchedStore(db_session, clock.now)
    for key in [referenced, encoding]:
        blobs.put(key, b"sealed")
    clock.advance(days=2)

    def check_commits() -> None:
        other = test_sessionmaker()
        other.execute(update(Photo).where(Photo.blob_key == referenced).values(encoding_key=encoding))
        other.commit()
        other.close()

    blobs.after_listing = check_commits
    assert sweep_orphans(db_session, blobs, clock, kinds=("uploads",)) == {"uploads": 0}
    db_session.commit()
    assert blobs.exists(encoding)


def test_no_references_while_the_store_holds_blobs_deletes_nothing(db_session: Any, clock: Any) -> None:
    """A host pointed at an empty database must not delete the dataset."""
    blobs = MemoryBlobStore(now=clock.now)
    keys = [f"e/k{i}/photo/{i}.v1" for i in range(3)] + ["releases/r1/aaaa/000000"]
    for key in keys:
        blobs.put(key, b"sealed")
    clock.advance(days=2)
    assert sweep_orphans(db_session, blobs, clock) == {"uploads": 0, "packages": 0}
    db_session.commit()
    assert sorted(blobs.iter_keys()) == sorted(keys)
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "blobs.orphan_sweep_refused"))
    assert event.details["reason"] == "no_references"
    assert event.details["uploads_listed"] == 3 and event.details["uploads_orphans"] == 3
    assert db_session.scalar(select(AuditEvent).where(AuditEvent.action == "blobs.orphans_swept")) is None


def test_too_many_orphans_deletes_nothing(
    db_session: Any, test_sessionmaker: Any, clock: Any, make_user: Any, make_campaign: Any
) -> None:
    """The wrong database (one that refers to a few of the blobs only): more than 5% and more than 20 orphans."""
    env = build_env(db_session, test_sessionmaker, clock)
    referenced = photo_row(env, make_user("contributor"), make_campaign())
    blobs = MemoryBlobStore(now=clock.now)
    orphans = [f"e/k{i}/photo/{i}.v1" for i in range(21)]
    for key in [referenced, *orphans]:
        blobs.put(key, b"sealed")
    clock.advance(days=2)
    assert sweep_orphans(db_session, blobs, clock) == {"uploads": 0, "packages": 0}
    db_session.commit()
    assert len(list(blobs.iter_keys())) == 22
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "blobs.orphan_sweep_refused"))
    assert event.details["reason"] == "too_many_orphans" and event.details["kinds"] == ["uploads"]
    assert event.details["uploads_orphans"] == 21 and event.details["uploads_listed"] == 22

    blobs.delete(orphans[0])  # 20 orphans: a handful, however large their share of a small store
    assert sweep_orphans(db_session, blobs, clock) == {"uploads": 20, "packages": 0}
    assert list(blobs.iter_keys()) == [referenced]
