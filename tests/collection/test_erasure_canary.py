"""Erasure really erases: plant a canary in a contributor's photo and fields, erase, and find it in none of the
database (file bytes and a logical dump), the blob store, the logs or the temp folder; a backup copy of a sealed
blob taken before erasure can no longer be opened."""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select
from sqlalchemy.orm import sessionmaker

from collection.audit.log import AuditLog
from collection.contributions.models import Photo
from collection.contributions.service import ContributionService
from collection.contributions.uploads import Boundaries, UploadService
from collection.crypto import KeyVault, MasterKey
from collection.erasure.models import ErasureRecord
from collection.erasure.service import ErasureService
from collection.errors import KeyDestroyed
from collection.job_queues import NullQueue
from collection.jobs import HandlerRegistry
from collection.storage import LocalBlobStore
from consent.clock import FixedClock
from consent.sealed import FieldCipher
from consent.service import ConsentService, KeyStore, Signing
from tests.collection.flow_support import MASTER, REQUIRED
from tests.conftest import drop_database, worker_database
from tests.consent._consent_support import make_notice
from webapp.db import make_engine
from webapp.demo_media import face_photo
from webapp.migrate import upgrade

CANARY = "CANARY-q7Zt9wPx"


def _registry() -> HandlerRegistry:
    """The real job kinds, so uploads can enqueue; the NullQueue never runs them."""
    from collection.contributions.gates import GateContext, register_handlers

    registry = HandlerRegistry()
    register_handlers(
        registry,
        GateContext(
            MASTER,
            LocalBlobStore(tempfile.mkdtemp()),
            lambda: None,  # type: ignore[arg-type]
            lambda: None,
        ),
    )  # type: ignore[arg-type]
    return registry


def _dump(engine: Any) -> str:
    """A logical dump: every row of every table as text."""
    meta = MetaData()
    meta.reflect(engine)
    parts = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            parts.extend(repr(tuple(row)) for row in conn.execute(select(table)))
    return "\n".join(parts)


def _files_containing(folder: Path, needle: bytes, since: float) -> list[str]:
    """Files under `folder` written since `since` that contain `needle` (folders vanishing meanwhile are fine)."""
    hits = []
    for root, _dirs, files in os.walk(folder, onerror=lambda _exc: None):
        for name in files:
            path = Path(root) / name
            try:
                if path.stat().st_mtime >= since and path.stat().st_size < 50_000_000 and needle in path.read_bytes():
                    hits.append(str(path))
            except OSError:
                continue
    return hits


@pytest.fixture(params=["sqlite", "postgresql"])
def canary_url(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A database of its own, with real commits (a rolled-back test transaction would prove nothing)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'canary.sqlite3'}"
        return
    base = os.environ.get("DATADAM_TEST_DATABASE_URL")
    if not base:
        pytest.skip("DATADAM_TEST_DATABASE_URL is not set")
    url = worker_database(base, "datadam_canary")
    yield url
    drop_database(base, url)


@pytest.mark.slow
def test_erasure_leaves_no_trace(tmp_path: Path, caplog: pytest.LogCaptureFixture, canary_url: str) -> None:
    caplog.set_level(logging.DEBUG)
    started = time.time() - 1
    url = canary_url
    upgrade(url)
    engine = make_engine(url, FieldCipher.from_master_key(MASTER))
    session = sessionmaker(engine, expire_on_commit=False)()
    clock = FixedClock(dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC))
    blobs = LocalBlobStore(tmp_path / "blobs")
    audit = AuditLog(session, clock)
    consent = ConsentService(session, clock, KeyStore(session, MASTER, clock), "https://datadam.example/privacy")
    vault = KeyVault(session, MasterKey(MASTER), clock)
    contributions = ContributionService(session, clock, consent, audit)
    uploads = UploadService(
        session, clock, contributions, audit, Boundaries(vault, blobs, NullQueue(_registry()), b"mac" * 11)
    )
    erasure = ErasureService(session, clock, vault, blobs, consent, audit)

    from collection.accounts import AccountService, SignupData, email_blind_index
    from collection.campaigns.models import Campaign, CampaignStatus

    accounts = AccountService(session, clock, b"k" * 32, email_index=email_blind_index(MASTER))
    user = accounts.sign_up(
        SignupData(f"{CANARY.lower()}@example.com", "long enough password", f"{CANARY} 김", dt.date(1990, 1, 1))
    )
    campaign = Campaign(
        slug="canary",
        title_ko="카나리아",
        title_en="Canary",
        status=CampaignStatus.DRAFT,
        brackets=[{"key": "30-39", "min_age": 30, "max_age": 39, "photos": 2}],
        photo_rules={},
        voice_prompts=[],
        min_age=14,
        max_age=80,
        created_at=clock.now(),
    )
    session.add(campaign)
    campaign.open(clock.now())
    session.flush()
    version = consent.publish(consent.draft(campaign.id, make_notice(campaign="canary")), by=None)
    consent.give(user.subject_id, version, Signing(REQUIRED, "ko", f"{CANARY} 서명"))
    contributions.enroll(user, campaign)
    photo = uploads.add_photo(user, campaign, "30-39", face_photo(4), age_years=33)
    photo.contributor_note = f"note {CANARY}"
    session.commit()
    plaintext = uploads.read_photo(photo)
    sealed_backup = blobs.get(photo.blob_key)  # what a backup taken before erasure would hold
    enrollment_id = photo.photo_set.enrollment_id
    logging.getLogger("datadam.test").info("contributor %s uploaded photo %s", user.id, photo.id)

    erasure.erase_account(user)
    session.commit()

    assert session.scalar(select(Photo).where(Photo.id == photo.id)) is None
    record = session.scalar(select(ErasureRecord))
    assert record is not None and record.key_destroyed_at is not None and record.blobs_deleted == 2
    with pytest.raises(KeyDestroyed):
        vault.open(enrollment_id, photo.blob_key, photo.version, sealed_backup)
    assert not list(blobs.iter_keys(f"e/{enrollment_id}/"))

    session.close()
    dump = _dump(engine)
    engine.dispose()
    assert CANARY not in dump and CANARY.lower() not in dump
    if url.startswith("sqlite"):
        db_file = Path(url.removeprefix("sqlite:///"))
        for path in (db_file, db_file.with_name(db_file.name + "-wal")):
            if path.exists():
                assert CANARY.encode() not in path.read_bytes(), path
    chunk = plaintext[200:264]
    assert _files_containing(tmp_path / "blobs", chunk, started) == []
    assert _files_containing(tmp_path / "blobs", CANARY.encode(), started) == []
    assert CANARY not in caplog.text and CANARY.lower() not in caplog.text
    assert _files_containing(Path(tempfile.gettempdir()), CANARY.encode(), started) == [], "temp folder"
