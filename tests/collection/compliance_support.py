"""Builders for the compliance tests: the wired collection services (as in flow_support), contributors whose
photos are stored the way the upload service stores them (re-encoded JPEG and thumbnail sealed under the
enrollment's data key, random blob names) without running the gates, and the compliance services on top."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collection.compliance import AccessReviewService, ConformanceChecker, ConsentRegistry, RetentionService
from collection.compliance.rights import RightsService
from collection.contributions.models import Photo, PhotoSet
from collection.contributions.uploads import blob_key, keyholder
from consent.db import new_id
from tests.collection.flow_support import Env, build_env, consent_and_enroll, publish_notice
from webapp.demo_media import face_photo


@dataclass
class World:
    env: Env
    rights: RightsService
    retention: RetentionService
    reviews: AccessReviewService
    registry: ConsentRegistry
    checkpoints: Path

    @property
    def session(self) -> Any:
        return self.env.session

    @property
    def clock(self) -> Any:
        return self.env.clock

    def checker(self, **kw: Any) -> ConformanceChecker:
        return ConformanceChecker(self.session, self.clock.now(), self.env.blobs, self.checkpoints, **kw)

    def put_sealed(self, photo_set: PhotoSet, key: str, version: int, payload: bytes) -> None:
        self.env.blobs.put(key, self.env.vault.seal(keyholder(photo_set), key, version, payload))


def build_world(session: Any, sessionmaker: Any, clock: Any, checkpoints: Path) -> World:
    env = build_env(session, sessionmaker, clock)
    audit = env.uploads.audit
    return World(
        env,
        RightsService(session, clock, audit, env.erasure),
        RetentionService(session, clock, env.erasure, audit),
        AccessReviewService(session, clock, audit),
        ConsentRegistry(session, env.consent, audit),
        checkpoints,
    )


def store_photo(world: World, photo_set: PhotoSet, bracket: str, data: bytes) -> Photo:
    photo = Photo(
        id=new_id(),
        set_id=photo_set.id,
        campaign_id=photo_set.campaign_id,
        user_id=photo_set.user_id,
        bracket=bracket,
        content_mac=hashlib.sha256(data).hexdigest(),
        created_at=world.clock.now(),
    )
    photo.blob_key = blob_key(keyholder(photo_set), "photo", photo.id, photo.version or 1)
    photo.thumb_key = blob_key(keyholder(photo_set), "thumb", photo.id, photo.version or 1)
    world.session.add(photo)
    world.session.flush()
    for key in (photo.blob_key, photo.thumb_key):
        world.put_sealed(photo_set, key, photo.version, data)
    return photo


def contributor(world: World, make_user: Any, campaign: Any, version: Any, photos: int = 2, start: int = 0) -> Any:
    """A contributor who consented, enrolled and has `photos` photos stored sealed."""
    user = make_user("contributor")
    photo_set = consent_and_enroll(world.env, user, campaign, version)
    brackets = [b["key"] for b in campaign.brackets]
    for i in range(photos):
        store_photo(world, photo_set, brackets[i % len(brackets)], face_photo(start + i, size=160))
    world.session.commit()
    return user


def campaign_with_notice(world: World, make_campaign: Any, **kw: Any) -> tuple[Any, Any]:
    campaign = make_campaign(**kw)
    return campaign, publish_notice(world.env, campaign)
