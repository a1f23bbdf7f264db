"""What every part of the release service shares: its collaborators (`ReleaseSettings` and the constructor of
`ReleaseReader`), reading releases (afresh under their row lock for a recording step), their campaign, withdrawal
lists and keys, and turning a transition a release refuses into a ReleaseStateError. `ReleaseService`
(collection.releases.service) is built on it; callers use that, not this.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from anonymize import Pseudonymizer
from collection.accounts.models import User
from collection.audit.log import Actor, AuditLog
from collection.campaigns.models import Campaign
from collection.crypto import KeyVault, MasterKey
from collection.errors import NotFound
from collection.releases.errors import ReleaseStateError
from collection.releases.media import MediaAnonymizer, ReleaseMedia
from collection.releases.models import Release, ReleaseSubject, ReleaseTransitionError
from collection.releases.models import WithdrawalListRecord as WithdrawalListRow
from collection.releases.signing import open_release_key, release_public_keys
from collection.releases.stored import PackageStore
from collection.releases.withdrawals import lists_of
from collection.storage import BlobStore
from consent.clock import Clock
from consent.service import ConsentService


@dataclass(frozen=True)
class ReleaseSettings:
    """Where packages built from the web go, and how hard verification looks (the defaults are the policy).
    `store_packages` also keeps each package, sealed, in the blob store, for installations whose hosts share the
    blob store but not a disk (S3); the embedded default keeps only the local file (one disk, one copy)."""

    package_dir: Path
    verify_faces: bool = True
    use_exiftool: bool | None = None  # None: use exiftool when it is installed
    store_packages: bool = False


class ReleaseReader:
    """The collaborators of the release service and what it reads (the service flushes; its caller commits)."""

    def __init__(
        self,
        session: Session,
        clock: Clock,
        consent: ConsentService,
        vault: KeyVault,
        blobs: BlobStore,
        audit: AuditLog,
        master_key: bytes,
        settings: ReleaseSettings,
        media: MediaAnonymizer | None = None,
    ) -> None:
        self.session = session
        self.clock = clock
        self.consent = consent
        self.vault = vault
        self.blobs = blobs
        self.audit = audit
        self._master_key = master_key
        self.settings = settings
        self.media: MediaAnonymizer = media or ReleaseMedia()
        self.packages = PackageStore(blobs, MasterKey(master_key))

    def __repr__(self) -> str:
        return "ReleaseService(<keys hidden>)"

    # -- reading ---------------------------------------------------------------------------------------------------
    def all(self) -> list[Release]:
        return list(self.session.scalars(select(Release).order_by(Release.created_at.desc(), Release.id)))

    def get(self, release_id: str) -> Release:
        """Raises NotFound."""
        release = self.session.get(Release, release_id)
        if release is None:
            raise NotFound("release", release_id)
        return release

    def locked(self, release_id: str) -> Release:
        """The release read afresh under its row lock (a no-op on SQLite, whose sessions lock the database for
        writing as they begin): what a slow step found is recorded against the row as it is now. Raises
        NotFound."""
        release = self.session.get(Release, release_id, populate_existing=True, with_for_update=True)
        if release is None:
            raise NotFound("release", release_id)
        return release

    def campaign_of(self, release: Release) -> Campaign:
        campaign = self.session.get(Campaign, release.campaign_id)
        if campaign is None:
            raise NotFound("campaign", release.campaign_id)
        return campaign

    def withdrawal_lists(self, release: Release) -> list[WithdrawalListRow]:
        """Every signed withdrawal list of the release, newest first."""
        return lists_of(self.session, release.id)

    def withdrawn_subjects(self, release: Release) -> int:
        q = select(func.count()).where(
            ReleaseSubject.release_id == release.id, ReleaseSubject.withdrawn_at.is_not(None)
        )
        return int(self.session.scalar(q) or 0)

    def public_keys(self) -> dict[str, bytes]:
        """The installation's release signing keys (key id -> raw Ed25519 public key)."""
        return release_public_keys(self.consent.keys)

    def pseudonymizer(self, release: Release) -> Pseudonymizer:
        """The release's pseudonymizer, from its sealed key. Raises ReleaseStateError before the build."""
        if release.sealed_key is None:
            raise ReleaseStateError(release.id, "the release has no key before it is built", code="not_built")
        return Pseudonymizer(open_release_key(self._master_key, release.id, release.sealed_key))

    def default_package_path(self, release: Release) -> Path:
        return self.settings.package_dir / f"datadam-release-{release.id}.zip"

    # -- helpers -----------------------------------------------------------------------------------------------------
    def _require_draft(self, release: Release) -> None:
        self._transition(release, release.require_draft)

    @staticmethod
    def _transition(release: Release, step: Any) -> None:
        try:
            step()
        except ReleaseTransitionError as exc:
            raise ReleaseStateError(release.id, str(exc), code=exc.code) from exc


def actor_of(user: User | None) -> Actor:
    """Who the audit log names for `user` (the system when there is none)."""
    return Actor(user.id, user.role.value) if user is not None else Actor.system()
