"""The release workflow: an operator drafts a release (campaign, licensee, purpose, released fields); the build
selects what may go out at that moment, writes the signed package and verifies it independently; a
compliance officer approves a verified release; downloads are audited; withdrawals after the build produce
signed withdrawal lists (collection.releases.withdrawals).

The service flushes; its caller (a view, a CLI command or a job) commits. Building and verifying are slow (every
photo is searched for faces by two detector families, seconds each), so each comes in three steps that a caller
can run in separate transactions, holding none while the slow step runs (a transaction held that long blocks
every other writer, on SQLite the whole database): `plan_build` / `write_package` / `record_build` and
`prepare_verification` / `check_package` / `record_verification`. The slow steps read nothing from the
database; the recording steps re-read the release under its row lock and re-check what may have changed
meanwhile. `build` and `verify` run the three steps in the caller's one transaction (the command line);
`collection.releases.jobs.build_in_steps` is the background job's way.

Where packages live: the embedded default keeps the one local file at the release's path. At scale
(`ReleaseSettings.store_packages`) the build also stores a sealed copy in the blob store
(`collection.releases.stored`) and, once the build is recorded, removes its own local file; verification, approval
and downloads on any host then fetch the copy into the local package folder for that one use and remove it after,
so no host keeps faces at rest that an erasure running elsewhere could not reach. A fetched copy is checked as the
local file is: against the statement hash recorded at the build.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from anonymize import (
    Pseudonymizer,
    ReleaseInfo,
    find_pii,
    new_release_key,
    package_statement_sha256,
    verify_package,
)
from anonymize.errors import AnonymizeError, ReleaseFormatError
from collection._after_commit import on_commit
from collection.accounts.models import Role, User
from collection.audit.log import Actor, AuditLog
from collection.campaigns.models import Campaign
from collection.crypto import KeyVault, MasterKey
from collection.errors import BlobNotFound, CryptoError, NotFound, StorageError
from collection.releases.build import (
    BuildPlan,
    BuiltPackage,
    PackageBuild,
    PackageCheck,
    StagedPackage,
    record_rows,
    remove_leftovers,
)
from collection.releases.errors import (
    ApprovalRefused,
    DeliveryRefused,
    NothingToRelease,
    ReleaseBuildFailed,
    ReleaseRuleError,
    ReleaseStateError,
)
from collection.releases.fields import check_fields
from collection.releases.media import MediaAnonymizer, ReleaseMedia
from collection.releases.models import Release, ReleaseState, ReleaseSubject, ReleaseTransitionError
from collection.releases.models import WithdrawalListRecord as WithdrawalListRow
from collection.releases.selection import recheck, select_items
from collection.releases.signing import open_release_key, release_public_keys, release_signer, seal_release_key
from collection.releases.stored import PackageStore, StoredPackage
from collection.releases.withdrawals import lists_of, lock_releases_of, record_withdrawal
from collection.storage import BlobStore
from consent.canonical import format_timestamp
from consent.clock import Clock
from consent.db import new_id
from consent.service import ConsentService

APPROVERS = (Role.COMPLIANCE, Role.ADMIN)
MAX_LICENSEE = 200
MAX_PURPOSE = 2000
_FETCHED = ".fetched-"  # a copy fetched from the blob store for one use; never a release's own name
_STALE_FETCH = dt.timedelta(days=1)


@dataclass(frozen=True)
class ReleaseSettings:
    """Where packages built from the web go, and how hard verification looks (the defaults are the policy).
    `store_packages` also keeps each package, sealed, in the blob store, for installations whose hosts share the
    blob store but not a disk (S3); the embedded default keeps only the local file (one disk, one copy)."""

    package_dir: Path
    verify_faces: bool = True
    use_exiftool: bool | None = None  # None: use exiftool when it is installed
    store_packages: bool = False


@dataclass(frozen=True)
class PackageFile:
    """An approved package opened for delivery: the name to offer it under, its size and the open file, which the
    caller closes (a `with` block does). A copy fetched from the blob store has no name on disk any more: it lives
    as long as the open file."""

    name: str
    size: int
    file: BinaryIO

    def __enter__(self) -> PackageFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.file.close()


@dataclass(frozen=True)
class ReleaseDraft:
    """What an operator asks for."""

    campaign: Campaign
    licensee: str
    purpose: str
    fields: Sequence[str]
    include_voice: bool = False


class ReleaseService:
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

    # -- drafting --------------------------------------------------------------------------------------------------
    def draft(self, actor: User | None, draft: ReleaseDraft) -> Release:
        """Record a release request. Raises ReleaseRuleError (licensee or purpose missing, too long or holding
        personal data; a field not allow-listed or not collected; voice asked of a campaign without voice)."""
        licensee = _text("licensee", draft.licensee, MAX_LICENSEE)
        purpose = _text("purpose", draft.purpose, MAX_PURPOSE)
        fields = check_fields(draft.campaign, draft.fields)
        if draft.include_voice and not draft.campaign.has_voice:
            raise ReleaseRuleError("include_voice", "the campaign collects no recordings")
        k = max(int(draft.campaign.k_anonymity or 1), 1)
        release = Release(
            campaign_id=draft.campaign.id,
            licensee=licensee,
            purpose=purpose,
            fields=list(fields),
            include_voice=draft.include_voice,
            k=k,
            state=ReleaseState.DRAFT,
            created_by=actor.id if actor else None,
            created_at=self.clock.now(),
        )
        self.session.add(release)
        self.session.flush()
        self.audit.record(_actor(actor), "release.drafted", "release", release.id, campaign_id=draft.campaign.id, k=k)
        return release

    # -- building ----------------------------------------------------------------------------------------------------
    def build(self, actor: User | None, release: Release, out_path: Path | None = None) -> Release:
        """Select, anonymize, package, sign, then verify, in the caller's transaction. `out_path` (a .zip, .tar,
        .tar.gz or a new folder) defaults to the configured package folder. Raises ReleaseStateError (already
        built), NothingToRelease, ReleaseBuildFailed (nothing is left on disk)."""
        return self.record_build(actor, self.write_package(self.plan_build(release, out_path)))

    def plan_build(self, release: Release, out_path: Path | None = None) -> BuildPlan:
        """Step 1 of a build, reads only (the installation's release signing key is created on its first use):
        the selection, the contributors' unwrapped keys (kept by the vault), the signer and the public keys.
        Raises ReleaseStateError (already built), NothingToRelease, ReleaseBuildFailed (`out_path` exists, a
        contributor's key cannot be opened)."""
        self._require_draft(release)
        campaign = self.campaign_of(release)
        selection = select_items(self.session, self.consent, campaign.id, release.include_voice)
        if not selection.contributors:
            raise NothingToRelease(release.id, selection.excluded)
        target = Path(out_path) if out_path is not None else self.default_package_path(release)
        if out_path is not None and target.exists():
            raise ReleaseBuildFailed(release.id, f"{target} already exists")
        try:
            for contributor in selection.contributors:
                self.vault.key_for(contributor.keyholder)  # unwrapped and cached now: step 2 reads no key row
        except CryptoError as exc:
            raise ReleaseBuildFailed(release.id, f"{type(exc).__name__}: {exc}") from exc
        return BuildPlan(
            release_id=release.id,
            include_voice=release.include_voice,
            k=release.k,
            info=self._info(release, campaign),
            selection=selection,
            target=target,
            own_path=out_path is None,
            signer=release_signer(self.consent.keys, self.clock.now()),
            public_keys=self.public_keys(),
        )

    def write_package(self, plan: BuildPlan) -> BuiltPackage:
        """Step 2 of a build, the slow one, with no database access at all: anonymize every item into a package
        written beside its target under a staging name, and verify it. Raises ReleaseBuildFailed (nothing is
        left on disk)."""
        key = new_release_key()
        staged = StagedPackage.beside(plan.target, new_id())
        try:
            staged.path.parent.mkdir(parents=True, exist_ok=True)
            build = PackageBuild(self.vault, self.blobs, self.media, Pseudonymizer(key))
            outcome = build.run(plan.selection, plan.info, staged.path, plan.signer)
        except (AnonymizeError, CryptoError, StorageError, OSError) as exc:
            raise ReleaseBuildFailed(plan.release_id, f"{type(exc).__name__}: {exc}") from exc
        try:
            report = self._report(staged.path, plan.public_keys, plan.k)
            stored = self._store(plan.release_id, staged.path)
        except BaseException:
            staged.discard()
            raise
        return BuiltPackage(plan, staged, outcome, {**report, "package": str(plan.target)}, key, stored)

    def _store(self, release_id: str, package: Path) -> StoredPackage | None:
        """The sealed copy of a package file in the blob store, when packages are shared (a package written as a
        folder, which only the command line asks for, stays where it was asked to be). Raises ReleaseBuildFailed
        (nothing of it is left in the store)."""
        if not (self.settings.store_packages and package.is_file()):
            return None
        try:
            return self.packages.upload(release_id, package)
        except (StorageError, OSError) as exc:
            detail = f"the package could not be stored: {type(exc).__name__}: {exc}"
            raise ReleaseBuildFailed(release_id, detail) from exc

    def discard(self, built: BuiltPackage) -> None:
        """Remove a package that will not be recorded: its staged file and its stored copy. A stored copy that
        cannot be deleted now is left to the orphan sweep (no row refers to it)."""
        built.staged.discard()
        if built.stored is not None:
            with contextlib.suppress(StorageError):
                self.packages.delete(built.stored.prefix)

    def record_build(self, actor: User | None, built: BuiltPackage) -> Release:
        """Step 3 of a build: under the release's row lock, re-check the contributors, move the package into
        place and record it, its items and contributors, its verification, and withdrawal lists for whoever
        withdrew meanwhile. Raises ReleaseStateError (built meanwhile), ReleaseBuildFailed (someone's data may no
        longer go out, or the package cannot be moved into place); the staged package is removed then."""
        plan = built.plan
        lock_releases_of(self.session, self.get(plan.release_id).campaign_id)  # campaign first, then release
        release = self.locked(plan.release_id)
        try:
            self._require_draft(release)
            withdrew = self._still_releasable(plan)
            built.staged.place(replace_leftover=plan.own_path)
        except OSError as exc:
            self.discard(built)
            raise ReleaseBuildFailed(release.id, f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            self.discard(built)
            raise
        # The package is in place before the row says so, never after: a built release always has its file.
        # Should this transaction roll back, the file is an unrecorded leftover the next attempt replaces (and
        # its stored copy one the orphan sweep removes).
        on_commit(self.session, lambda: _after_recorded(built))
        self._record_built(actor, release, built)
        for subject_id in withdrew:  # withdrew while the build ran: listed at once (approval then refuses)
            record_withdrawal(self.consent, subject_id, release.campaign_id)
        self._record_report(actor, release, built.report)
        return release

    def _still_releasable(self, plan: BuildPlan) -> tuple[str, ...]:
        """Who withdrew the provision while the build ran. Raises ReleaseBuildFailed when anyone's data may no
        longer go out at all (erased, suspended, an item no longer accepted): the package is not kept."""
        changed = recheck(self.session, self.consent, plan.selection, plan.include_voice)
        if changed.gone:
            raise ReleaseBuildFailed(
                plan.release_id,
                f"the data of {len(changed.gone)} contributor(s) changed or was erased while the release was being "
                "built: build it again",
            )
        return changed.withdrew

    def _record_built(self, actor: User | None, release: Release, built: BuiltPackage) -> None:
        plan, outcome = built.plan, built.outcome
        release.sealed_key = seal_release_key(self._master_key, release.id, built.release_key)
        record_rows(self.session, release.id, plan.selection, outcome, Pseudonymizer(built.release_key))
        summary = outcome.summary
        release.mark_built(
            actor.id if actor else None, self.clock.now(), str(plan.target), summary.key_id, summary.statement_sha256
        )
        if built.stored is not None:
            release.package_blob, release.package_key = built.stored.prefix, built.stored.wrapped_key
        release.items, release.subjects = summary.items, outcome.subjects
        release.build_summary = {**outcome.stats.to_dict(), "excluded": plan.selection.excluded}
        self.audit.record(
            _actor(actor),
            "release.built",
            "release",
            release.id,
            items=release.items,
            subjects=release.subjects,
            excluded=sum(plan.selection.excluded.values()),
        )
        self.session.flush()

    def _info(self, release: Release, campaign: Campaign) -> ReleaseInfo:
        media = "Face photos and voice recordings" if release.include_voice else "Face photos"
        return ReleaseInfo(
            release_id=release.id,
            campaign=campaign.slug,
            licensee=release.licensee,
            purpose=release.purpose,
            created_at=format_timestamp(release.created_at),
            collection_method=(
                f"{media} contributed through the datadam campaign {campaign.slug} by contributors who gave a "
                "separate consent to provision to third parties; every photo passed automatic quality checks and "
                "operator review; media re-encoded from pixels or samples, faces other than the contributor's "
                "covered with a solid fill."
            ),
            licence=f"Licensed to {release.licensee} for the purpose above only.",
            attributes=tuple(release.fields),
            quasi_identifiers=tuple(release.fields),
            k=release.k,
        )

    # -- verification and approval ---------------------------------------------------------------------------------
    def verify(self, actor: User | None, release: Release) -> dict[str, Any]:
        """Re-check the package independently of the build and store the report on the release (it becomes
        verified or verify_failed), in the caller's transaction. Raises ReleaseStateError before the build or
        after approval."""
        check = self.prepare_verification(release)
        return self.record_verification(actor, check, self.check_package(check))

    def prepare_verification(self, release: Release) -> PackageCheck:
        """Step 1 of a verification, reads only. Raises ReleaseStateError before the build or after approval."""
        if not release.built or release.package_path is None:
            raise ReleaseStateError(release.id, "build the release before verifying it", code="not_built")
        self._transition(release, release.require_verifiable)
        return PackageCheck(
            release.id, Path(release.package_path), release.statement_sha256, release.k, self.public_keys(),
            _stored(release),
        )

    def check_package(self, check: PackageCheck) -> dict[str, Any]:
        """Step 2, the slow one (every photo is searched for faces), with no database access: the report. A
        stored copy that is gone or does not open fails the verification. Raises ReleaseStateError when the blob
        store cannot be read now (nothing is recorded: verify again later)."""
        try:
            with self._package_here(check.package, check.stored) as path:
                report = self._report(path, check.public_keys, check.k)
        except BlobNotFound:
            report = _unusable_copy(check.package, "stored_copy_missing", "the stored copy of the package is gone")
        except CryptoError:
            report = _unusable_copy(check.package, "stored_copy_altered",
                                    "the stored copy of the package does not open: it was altered or replaced")
        except StorageError as exc:
            raise ReleaseStateError(check.release_id, f"the stored package cannot be read right now: {exc}",
                                    code="package_unavailable") from exc
        return {**report, "package": str(check.package)}

    def record_verification(self, actor: User | None, check: PackageCheck, report: dict[str, Any]) -> dict[str, Any]:
        """Step 3: store the report on the release, read afresh under its row lock. Raises ReleaseStateError
        when the release was approved, or its package erased or replaced, while the check ran."""
        release = self.locked(check.release_id)
        recorded = (release.package_path, release.package_blob, release.statement_sha256)
        if recorded != (str(check.package), check.stored.prefix if check.stored else None, check.statement_sha256):
            raise ReleaseStateError(release.id, "the package changed while it was being verified: verify it again",
                                    code="package_changed_during_check")
        self._record_report(actor, release, report)
        return report

    def _record_report(self, actor: User | None, release: Release, report: dict[str, Any]) -> None:
        self._transition(release, lambda: release.record_verification(report, self.clock.now()))
        self.audit.record(
            _actor(actor),
            "release.verified",
            "release",
            release.id,
            ok=bool(report["ok"]),
            failures=len(report["failures"]),
        )
        self.session.flush()

    def _report(self, path: Path, public_keys: dict[str, bytes], k: int) -> dict[str, Any]:
        try:
            report = verify_package(
                path,
                public_keys,
                k,
                check_faces=self.settings.verify_faces,
                use_exiftool=self.settings.use_exiftool,
            )
        except ReleaseFormatError as exc:
            return {
                "ok": False,
                "package": str(path),
                "items": 0,
                "k_achieved": None,
                "checks": {},
                "failures": [_unopenable(exc)],
            }
        return report.to_dict()

    def approve(self, officer: User, release: Release) -> None:
        """Approve a verified release for delivery. Raises ApprovalRefused naming why (not a compliance officer,
        the officer built it, not verified with every failure listed, withdrawals since the build, package
        gone) and ReleaseStateError (already approved)."""
        if release.state is ReleaseState.APPROVED:
            raise ReleaseStateError(release.id, "this release is already approved", code="already_approved")
        self._check_approvable(officer, release)
        self._transition(release, lambda: release.approve(officer.id, self.clock.now()))
        self.audit.record(
            _actor(officer),
            "release.approved",
            "release",
            release.id,
            statement_sha256=release.statement_sha256,
            items=release.items,
        )
        self.session.flush()

    def _check_approvable(self, officer: User, release: Release) -> None:
        if officer.role not in APPROVERS:
            raise ApprovalRefused(release.id, "only a compliance officer approves releases", code="not_officer")
        if not release.built:
            raise ApprovalRefused(release.id, "the release is not built yet", code="not_built")
        if release.built_by is not None and release.built_by == officer.id:
            raise ApprovalRefused(release.id, "the person who built a release does not approve it", code="own_build")
        if not release.verification_passed:
            failed = bool(release.verify_report)
            reason = "its verification has not passed" if failed else "it has not been verified"
            raise ApprovalRefused(release.id, reason, release.failures(),
                                  code="verification_failed" if failed else "not_verified")
        withdrawn = self.withdrawn_subjects(release)
        if withdrawn:
            raise ApprovalRefused(release.id, f"{withdrawn} contributor(s) withdrew since the build: build a new one",
                                  code="withdrawn", count=withdrawn)
        problem = self._package_problem(release)
        if problem is not None:
            raise ApprovalRefused(release.id, _PACKAGE_PROBLEMS[problem], code=problem)

    def _package_problem(self, release: Release) -> str | None:
        """What keeps the release's package from going out, as a refusal code (None: nothing): not here and not
        stored (`package_missing`), the blob store not answering (`package_unavailable`), or not the package
        that was built, i.e. its signed statement is not the one recorded at the build or its stored copy does
        not open (`package_changed`)."""
        if not release.package_path:  # erased
            return "package_missing"
        try:
            with self._package_here(Path(release.package_path), _stored(release)) as path:
                if not path.exists():
                    return "package_missing"
                return None if _is_built_package(path, release.statement_sha256) else "package_changed"
        except BlobNotFound:
            return "package_missing"
        except CryptoError:
            return "package_changed"
        except StorageError:
            return "package_unavailable"

    @contextlib.contextmanager
    def _package_here(self, path: Path, stored: StoredPackage | None) -> Iterator[Path]:
        """The package as a local path: the recorded one when it is on this host (or nothing is stored), else
        its stored copy fetched into the package folder for this one use and removed after it. Raises
        BlobNotFound, CryptoError, StorageError (the stored copy is gone, does not open, cannot be read now)."""
        if stored is None or path.exists():
            yield path
            return
        folder = self.settings.package_dir
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        _remove_stale_fetches(folder)
        fetched = folder / f"{_FETCHED}{new_id()}-{path.name}"  # keeps the suffix that names the format
        try:
            self.packages.fetch(stored, fetched)
        except OSError as exc:
            raise StorageError(f"the package could not be written to this host: {type(exc).__name__}") from exc
        try:
            yield fetched
        finally:
            fetched.unlink(missing_ok=True)

    # -- delivery --------------------------------------------------------------------------------------------------
    def download(self, actor: User, release: Release) -> PackageFile:
        """The approved package, opened, with an audit event for this download (the caller closes the file).
        Raises DeliveryRefused (not approved, contributors withdrew since the build, package missing, not a
        single file, not the one built, or its stored copy unreadable now)."""
        if release.state is not ReleaseState.APPROVED:
            raise DeliveryRefused(release.id, "it is not approved", code="not_approved")
        withdrawn = self.withdrawn_subjects(release)
        if withdrawn:
            raise DeliveryRefused(release.id, f"{withdrawn} contributor(s) withdrew since the build: build a new one",
                                  code="withdrawn", count=withdrawn)
        package = self._open_package(release)
        try:
            self.audit.record(_actor(actor), "release.downloaded", "release", release.id,
                              statement_sha256=release.statement_sha256, bytes=package.size)
            self.session.flush()
        except BaseException:
            package.file.close()
            raise
        return package

    def _open_package(self, release: Release) -> PackageFile:
        """The release's package file opened for reading, once it proved to be the one built. Raises
        DeliveryRefused."""
        if not release.package_path:  # erased
            raise DeliveryRefused(release.id, _PACKAGE_PROBLEMS["package_missing"], code="package_missing")
        name = Path(release.package_path).name
        try:
            with self._package_here(Path(release.package_path), _stored(release)) as path:
                if not path.is_file():
                    raise DeliveryRefused(release.id, _PACKAGE_PROBLEMS["not_a_file"], code="package_missing")
                if not _is_built_package(path, release.statement_sha256):
                    raise DeliveryRefused(release.id, _PACKAGE_PROBLEMS["package_changed"], code="package_changed")
                handle = path.open("rb")  # opened before a fetched copy's name is removed: the file outlives it
        except BlobNotFound as exc:
            raise DeliveryRefused(release.id, _PACKAGE_PROBLEMS["package_missing"], code="package_missing") from exc
        except CryptoError as exc:
            raise DeliveryRefused(release.id, _PACKAGE_PROBLEMS["package_changed"], code="package_changed") from exc
        except StorageError as exc:
            raise DeliveryRefused(release.id, _PACKAGE_PROBLEMS["package_unavailable"],
                                  code="package_unavailable") from exc
        return PackageFile(name, os.fstat(handle.fileno()).st_size, handle)

    # -- withdrawals -------------------------------------------------------------------------------------------------
    def record_withdrawal(self, subject_id: str, campaign_id: str) -> list[WithdrawalListRow]:
        """See `collection.releases.withdrawals.record_withdrawal`."""
        return record_withdrawal(self.consent, subject_id, campaign_id)

    # -- helpers -----------------------------------------------------------------------------------------------------
    def _require_draft(self, release: Release) -> None:
        self._transition(release, release.require_draft)

    @staticmethod
    def _transition(release: Release, step: Any) -> None:
        try:
            step()
        except ReleaseTransitionError as exc:
            raise ReleaseStateError(release.id, str(exc), code=exc.code) from exc


# English wording of what keeps a package from being approved or delivered, by refusal code.
_PACKAGE_PROBLEMS = {
    "package_missing": "the package is no longer stored: build the release again",
    "package_changed": "the stored package is not the one that was built and verified",
    "package_unavailable": "the stored package cannot be read right now: try again later",
    "not_a_file": "the package is not a single file on this server",
}


def _stored(release: Release) -> StoredPackage | None:
    """The release's sealed copy in the blob store, if it has one."""
    if release.package_blob is None or release.package_key is None:
        return None
    return StoredPackage(release.package_blob, release.package_key)


def _is_built_package(path: Path, statement_sha256: str | None) -> bool:
    """Whether the package at `path` carries the signed statement recorded at the build."""
    try:
        return package_statement_sha256(path) == statement_sha256
    except ReleaseFormatError:
        return False


def _remove_stale_fetches(folder: Path) -> None:
    """Remove copies fetched for a use that never ended (the process was killed mid-way): a copy of faces must not
    stay on a host. A day is longer than any verification, so no copy still in use goes. (File times are the
    machine's, so the machine's clock judges them.)"""
    cutoff = time.time() - _STALE_FETCH.total_seconds()
    for path in folder.glob(f"{_FETCHED}*"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)


def _after_recorded(built: BuiltPackage) -> None:
    """Once a build is committed: remove what interrupted attempts left beside it and, when the package is stored
    in the blob store and was written to the release's own path, the build host's local file (the stored copy is
    the one every host reads, and the one an erasure anywhere can reach)."""
    remove_leftovers(built.staged)
    if built.stored is not None and built.plan.own_path:
        built.plan.target.unlink(missing_ok=True)


def _unusable_copy(package: Path, code: str, detail: str) -> dict[str, Any]:
    """The report of a package whose stored copy could not be read: one structure failure, shaped as `_unopenable`."""
    return {"ok": False, "package": str(package), "items": 0, "k_achieved": None, "checks": {},
            "failures": [{"check": "structure", "file": None, "detail": detail, "code": code, "params": {}}]}


def _unopenable(exc: ReleaseFormatError) -> dict[str, Any]:
    """The one failure of a package that could not be opened at all, shaped as anonymize's report shapes every
    failure (English detail, stable code, params) so the pages word it like the others."""
    params = {} if exc.cause is None else {"error": exc.cause}
    return {"check": "structure", "file": None, "detail": str(exc), "code": exc.code, "params": params}


def _actor(user: User | None) -> Actor:
    return Actor(user.id, user.role.value) if user is not None else Actor.system()


def _text(field: str, value: str, limit: int) -> str:
    text = " ".join((value or "").split())
    if not text:
        raise ReleaseRuleError(field, "is required")
    if len(text) > limit:
        raise ReleaseRuleError(field, f"must be at most {limit} characters")
    found = find_pii(text)
    if found:
        kinds = ", ".join(sorted({f.kind for f in found}))
        raise ReleaseRuleError(field, f"must not hold personal data (found: {kinds})")
    return text
