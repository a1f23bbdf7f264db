"""Personal data in database columns is sealed at rest: plant a canary in a contributor's email, name and birth
date, their typed signature, their guardian's name, a photo's note and capture time, the free text of a review,
an appeal and a rights request; then find it nowhere in
a raw dump of the database, while the app, holding the master key, reads every value back and a wrong master key
reads none."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select, text
from sqlalchemy.orm import Session

from collection.accounts import AccountService, SignupData, User, email_blind_index
from collection.campaigns.models import Campaign, CampaignStatus
from collection.compliance.models import RightsKind, RightsRequest
from collection.contributions.models import Enrollment, EnrollmentState, Photo, PhotoSet
from collection.review.models import Appeal, Decision, PhotoDecision, RejectReason
from consent.clock import FixedClock
from consent.errors import FieldDecryptionError, FieldKeyMissingError
from consent.models import SignatureName
from consent.receipts import GuardianRelationship
from consent.sealed import FieldCipher
from consent.service import ConsentService, Guardian, KeyStore, Signing
from tests.collection.flow_support import MASTER, REQUIRED
from tests.conftest import drop_database, worker_database
from tests.consent._consent_support import make_notice
from webapp.db import make_engine
from webapp.migrate import upgrade

CANARY = "CANARY-Sealed-v8Qm2"
EMAIL = f"{CANARY}@Example.com"
BIRTH = dt.date(1911, 7, 13)
CAPTURED = dt.datetime(1923, 5, 17, 8, 9, 10, tzinfo=dt.UTC)
NEEDLES = (CANARY, CANARY.lower(), "1911-07-13", "19110713", "1923-05-17", "19230517")
CLOCK = FixedClock(dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC))


@dataclass(frozen=True)
class Planted:
    user_id: str
    record_id: str
    photo_id: str
    request_id: str


@pytest.fixture(params=["sqlite", "postgresql"])
def sealed_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own with real commits (a rolled-back transaction would leave nothing to dump)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sealed.sqlite3'}"
        upgrade(url)
        yield url
        return
    base = os.environ.get("DATADAM_TEST_DATABASE_URL")
    if not base:
        pytest.skip("DATADAM_TEST_DATABASE_URL is not set")
    url = worker_database(base, "datadam_sealed")
    upgrade(url)
    yield url
    drop_database(base, url)


def _accounts(session: Session, master: bytes = MASTER) -> AccountService:
    return AccountService(session, CLOCK, b"k" * 32, email_index=email_blind_index(master))


def _plant(url: str) -> Planted:
    engine = make_engine(url, FieldCipher.from_master_key(MASTER))
    with Session(engine, expire_on_commit=False) as session:
        user = _accounts(session).sign_up(SignupData(EMAIL, "long enough password", f"{CANARY} 김", BIRTH))
        campaign = Campaign(
            slug="sealed", title_ko="봉인", title_en="Sealed", status=CampaignStatus.DRAFT,
            brackets=[{"key": "30-39", "min_age": 30, "max_age": 39, "photos": 2}],
            photo_rules={}, voice_prompts=[], created_at=CLOCK.now(),
        )  # fmt: skip
        session.add(campaign)
        campaign.open(CLOCK.now())
        session.flush()
        consent = ConsentService(session, CLOCK, KeyStore(session, MASTER, CLOCK), "https://datadam.example/privacy")
        version = consent.publish(consent.draft(campaign.id, make_notice(campaign="sealed")), by=None)
        guardian = Guardian(f"{CANARY} 보호자", GuardianRelationship.PARENT, f"{CANARY} 보호자 서명")
        signing = Signing(REQUIRED, "ko", f"{CANARY} 서명", under_14=True, guardian=guardian)
        record = consent.give(user.subject_id, version, signing)
        enrollment = Enrollment(
            campaign_id=campaign.id, user_id=user.id, joined_at=CLOCK.now(), state=EnrollmentState.ACTIVE
        )
        session.add(enrollment)
        session.flush()
        photo_set = PhotoSet(enrollment_id=enrollment.id, campaign_id=campaign.id, user_id=user.id)
        session.add(photo_set)
        session.flush()
        photo = Photo(
            set_id=photo_set.id, campaign_id=campaign.id, user_id=user.id, bracket="30-39", blob_key="b",
            content_mac="m", captured_at=CAPTURED, contributor_note=f"my note {CANARY}",
            review_comment=f"comment {CANARY}",
        )  # fmt: skip
        session.add(photo)
        session.flush()
        decision = PhotoDecision(photo_id=photo.id, set_id=photo_set.id, reviewer_id=user.id, round=1,
                                 decision=Decision.REJECT, reason=RejectReason.OTHER, comment=f"comment {CANARY}",
                                 at=CLOCK.now())
        session.add(decision)
        session.flush()
        session.add(Appeal(photo_id=photo.id, set_id=photo_set.id, decision_id=decision.id, note=f"appeal {CANARY}",
                           answer=f"answer {CANARY}", filed_at=CLOCK.now(), due_at=CLOCK.now()))
        request = RightsRequest(subject_id=user.subject_id, user_id=user.id, kind=RightsKind.CORRECTION,
                                details=f"details {CANARY}", resolution_note=f"resolved {CANARY}",
                                received_at=CLOCK.now(), due_at=CLOCK.now())
        session.add(request)
        session.commit()
        planted = Planted(user.id, record.id, photo.id, request.id)
    engine.dispose()
    return planted


def _logical_dump(url: str) -> str:
    """Every row of every table as text, read with no field key (as anyone with a dump would)."""
    engine = make_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        rows = [" | ".join(map(str, row)) for table in meta.sorted_tables for row in conn.execute(select(table))]
    engine.dispose()
    return "\n".join(rows)


def _raw_columns(url: str) -> list[Any]:
    """The personal-data columns as the database driver returns them."""
    engine = make_engine(url)
    queries = (
        "SELECT email, email_index, display_name, birth_date FROM users",
        "SELECT name, salt FROM signature_names",
        "SELECT captured_at, contributor_note, review_comment FROM photos",
        "SELECT comment FROM photo_decisions",
        "SELECT note, answer FROM appeals",
        "SELECT details, resolution_note FROM rights_requests",
    )
    with engine.connect() as conn:
        values = [value for q in queries for row in conn.execute(text(q)) for value in row]
    engine.dispose()
    return values


def _assert_no_canary(haystack: str | bytes) -> None:
    for needle in NEEDLES:
        if isinstance(haystack, bytes):
            assert needle.encode() not in haystack, needle
        else:
            assert needle not in haystack, needle


def test_a_database_dump_holds_none_of_the_personal_data(sealed_url: str) -> None:
    _plant(sealed_url)
    _assert_no_canary(_logical_dump(sealed_url))
    raw = _raw_columns(sealed_url)
    assert len(raw) == 4 + 2 * 2 + 3 + 1 + 2 + 2
    for value in raw:
        if value is not None:
            _assert_no_canary(bytes(value) if not isinstance(value, str) else value)
    if sealed_url.startswith("sqlite"):
        db_file = Path(sealed_url.removeprefix("sqlite:///"))
        with sqlite3.connect(db_file) as conn:
            _assert_no_canary("\n".join(conn.iterdump()))
        conn.close()
        for path in (db_file, db_file.with_name(db_file.name + "-wal")):
            if path.exists():
                _assert_no_canary(path.read_bytes())


def test_the_app_reads_every_value_back_and_finds_the_account_by_email(sealed_url: str) -> None:
    planted = _plant(sealed_url)
    engine = make_engine(sealed_url, FieldCipher.from_master_key(MASTER))
    with Session(engine) as session:
        user = _accounts(session).find_by_email(f"  {CANARY.lower()}@EXAMPLE.com ")
        assert user is not None and user.id == planted.user_id
        assert (user.email, user.display_name, user.birth_date) == (EMAIL.lower(), f"{CANARY} 김", BIRTH)
        names = session.scalars(select(SignatureName).where(SignatureName.record_id == planted.record_id))
        assert {row.role: row.name for row in names} == {"principal": f"{CANARY} 서명", "guardian": f"{CANARY} 보호자"}
        photo = session.get_one(Photo, planted.photo_id)
        assert (photo.captured_at, photo.contributor_note) == (CAPTURED, f"my note {CANARY}")
        assert photo.review_comment == f"comment {CANARY}"
        appeal = session.scalars(select(Appeal).where(Appeal.photo_id == planted.photo_id)).one()
        assert (appeal.note, appeal.answer) == (f"appeal {CANARY}", f"answer {CANARY}")
        request = session.get_one(RightsRequest, planted.request_id)
        assert (request.details, request.resolution_note) == (f"details {CANARY}", f"resolved {CANARY}")
    engine.dispose()


def test_a_wrong_master_key_reads_nothing(sealed_url: str) -> None:
    planted = _plant(sealed_url)
    wrong = b"W" * 32
    engine = make_engine(sealed_url, FieldCipher.from_master_key(wrong))
    with Session(engine) as session:
        assert _accounts(session, wrong).find_by_email(EMAIL) is None
        with pytest.raises(FieldDecryptionError):
            session.get(User, planted.user_id)
        with pytest.raises(FieldDecryptionError):
            session.scalars(select(SignatureName)).all()
        with pytest.raises(FieldDecryptionError):
            session.get(Photo, planted.photo_id)
    engine.dispose()
    keyless = make_engine(sealed_url)
    with Session(keyless) as session, pytest.raises(FieldKeyMissingError):
        session.get(User, planted.user_id)
    keyless.dispose()
