"""Withdrawal lists: after a contributor withdraws the provision to third parties (alone, or with everything),
each release that holds their items gets a new signed, cumulative, numbered list of the pseudonymous subject
ids its licensees must delete (anonymize.sign_withdrawal_list; Ed25519 key of purpose "release").

`record_withdrawal` is what the withdrawal path calls, in the withdrawal's own transaction: a withdrawal and
the lists it causes commit together or not at all. It flushes, never commits. The release row is locked while
its next list is numbered, so two withdrawals at once cannot both claim the same sequence number.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from anonymize import WithdrawalList, sign_withdrawal_list
from collection.audit.log import Actor, AuditLog
from collection.errors import StorageError
from collection.releases.models import Release, ReleaseSubject, WithdrawalListRecord
from collection.releases.selection import still_consenting
from collection.releases.signing import release_signer
from collection.storage import BlobStore, delete_prefix
from consent.canonical import format_timestamp
from consent.clock import Clock
from consent.service import ConsentService, KeyStore

logger = logging.getLogger(__name__)


def lock_releases_of(session: Session, campaign_id: str) -> None:
    """Serialise what changes who a campaign's releases may hold: recording a built release, and a withdrawal or
    erasure putting someone on their lists. Each takes the campaign row's lock first (PostgreSQL; SQLite's
    immediate transactions already run one at a time), so an erasure committing while a build is recorded is
    either seen by the build's re-check or sees the new release's subjects, never neither."""
    from collection.campaigns.models import Campaign

    session.execute(select(Campaign.id).where(Campaign.id == campaign_id).with_for_update())


def record_withdrawal(consent: ConsentService, subject_id: str, campaign_id: str) -> list[WithdrawalListRecord]:
    """Put `subject_id` on the withdrawal list of every release of `campaign_id` holding their items, once
    they no longer hold what a release rests on. Returns the lists issued (none when nothing changed, e.g. only
    the voice matter was withdrawn, or they were already listed)."""
    lock_releases_of(consent.session, campaign_id)
    if still_consenting(consent, subject_id, campaign_id):
        return []
    return _list_subject(consent, subject_id, campaign_id)


@dataclass(frozen=True)
class ErasedPackage:
    """Where an erased package had copies: the file at its recorded path (on the host that built it) and the
    prefix of its sealed copy in the blob store (None when it had none)."""

    path: Path | None
    stored_prefix: str | None


def record_erasure(consent: ConsentService, subject_id: str, campaign_id: str, reason: str) -> list[ErasedPackage]:
    """What an erasure means for releases: whatever its reason (withdrawal, retention, a request, account
    deletion), the person goes on the withdrawal list of every release of `campaign_id` holding their items
    (recipients are told, GDPR art. 17(2) and 19), and those packages, which hold their face, stop being
    deliverable: the wrapped key of a stored copy is forgotten in this transaction (a copy surviving in a bucket
    backup opens no more). Flushes, never commits; returns the copies for the caller to delete after its commit
    (`delete_packages`)."""
    session, clock = consent.session, consent.clock
    lock_releases_of(session, campaign_id)
    _list_subject(consent, subject_id, campaign_id)
    releases = [release for _, release in _holdings(session, subject_id, campaign_id)
                if release.package_path or release.package_blob]
    erased: list[ErasedPackage] = []
    now = clock.now()
    for release in releases:
        path = Path(release.package_path) if release.package_path else None
        erased.append(ErasedPackage(path, release.package_blob))
        release.package_path = release.package_blob = release.package_key = None
        release.build_summary = {**(release.build_summary or {}), "package_erased_at": format_timestamp(now),
                                 "package_erased_reason": reason}
        AuditLog(session, clock).record(Actor.system(), "release.package_erased", "release", release.id,
                                        reason=reason, subject=subject_id)
    session.flush()
    return erased


def delete_packages(packages: list[ErasedPackage], blobs: BlobStore) -> None:
    """Remove erased packages: the local file or folder (on the host that built it; elsewhere there is none) and
    the stored copy. Missing ones are fine: erasure is idempotent. One that cannot be removed now does not stop
    the others: each failure is logged, and the first is raised once every package was tried. Raises StorageError
    when the blob store fails (the keys are forgotten already, so what is left there no longer opens; the orphan
    sweep removes it later), OSError when a local file cannot be removed."""
    failures: list[StorageError | OSError] = []
    for package in packages:
        if package.path is not None:
            try:
                _remove_local(package.path)
            except OSError as exc:
                logger.error("erased package file %s could not be removed: %s", package.path, type(exc).__name__)
                failures.append(exc)
        if package.stored_prefix is not None:
            try:
                delete_prefix(blobs, package.stored_prefix)
            except StorageError as exc:
                logger.error("stored copy %s of an erased package could not be deleted: %s", package.stored_prefix,
                             type(exc).__name__)
                failures.append(exc)
    if failures:
        raise failures[0]


def _remove_local(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _list_subject(consent: ConsentService, subject_id: str, campaign_id: str) -> list[WithdrawalListRecord]:
    session, clock = consent.session, consent.clock
    rows = [row for row, _ in _holdings(session, subject_id, campaign_id) if row.withdrawn_at is None]
    now = clock.now()
    for row in rows:
        row.withdrawn_at = now
    session.flush()
    return [issue_list(session, clock, consent.keys, row.release_id) for row in rows]


def _holdings(session: Session, subject_id: str, campaign_id: str) -> list[tuple[ReleaseSubject, Release]]:
    """The person's entry in every release of the campaign that holds their items, oldest release id first."""
    q = (
        select(ReleaseSubject, Release)
        .join(Release, Release.id == ReleaseSubject.release_id)
        .where(ReleaseSubject.subject_id == subject_id, Release.campaign_id == campaign_id)
        .order_by(Release.id)
    )
    return [(row, release) for row, release in session.execute(q)]


def issue_list(session: Session, clock: Clock, keys: KeyStore, release_id: str) -> WithdrawalListRecord:
    """Sign and store the next cumulative withdrawal list of `release_id` (every subject withdrawn so far)."""
    session.get(Release, release_id, with_for_update=True)  # serialises numbering (no-op on SQLite)
    pseudonyms = session.scalars(
        select(ReleaseSubject.pseudonym).where(
            ReleaseSubject.release_id == release_id, ReleaseSubject.withdrawn_at.is_not(None)
        )
    )
    last = session.scalar(
        select(func.max(WithdrawalListRecord.sequence)).where(WithdrawalListRecord.release_id == release_id)
    )
    now = clock.now()
    listed = WithdrawalList(release_id, (last or 0) + 1, format_timestamp(now), tuple(sorted(pseudonyms)))
    signer = release_signer(keys, now)
    record = WithdrawalListRecord(
        release_id=release_id,
        sequence=listed.sequence,
        issued_at=now,
        subject_count=len(listed.subject_ids),
        key_id=signer.key_id,
        document=sign_withdrawal_list(listed, signer).decode("utf-8"),
    )
    session.add(record)
    AuditLog(session, clock).record(
        Actor.system(),
        "release.withdrawal_list_issued",
        "release",
        release_id,
        sequence=listed.sequence,
        subjects=len(listed.subject_ids),
    )
    session.flush()
    return record


def lists_of(session: Session, release_id: str) -> list[WithdrawalListRecord]:
    """Every withdrawal list of the release, newest first."""
    q = select(WithdrawalListRecord).where(WithdrawalListRecord.release_id == release_id)
    return list(session.scalars(q.order_by(WithdrawalListRecord.sequence.desc())))
