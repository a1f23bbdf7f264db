"""The release workflow: an operator drafts a release (campaign, licensee, purpose, released fields); the build
selects what may go out at that moment, writes the signed package and verifies it independently; a
compliance officer approves a verified release; downloads are audited; withdrawals after the build produce
signed withdrawal lists (collection.releases.withdrawals).

`ReleaseService` is the one entry point. This module holds drafting and building; verification, approval and
delivery are in `collection.releases.checks`, what every part reads in `collection.releases.reading`, and
reaching a package for one use in `collection.releases.package_access`.

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
(`collection.releases.stored`) and removes its own local file as soon as the copy is stored; verification, approval
and downloads on any host then fetch the copy into the local package folder for that one use and remove it after,
so no host keeps faces at rest that an erasure running elsewhere could not reach. A fetched copy is checked as the
local file is: against the statement hash recorded at the build.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from anonymize import Pseudonymizer, ReleaseInfo, find_pii, new_release_key
from anonymize.errors import AnonymizeError
from collection._after_commit import on_commit
from collection.accounts.models import User
from collection.campaigns.models import Campaign
from collection.errors import CryptoError, StorageError
from collection.releases.build import (
    BuildPlan,
    BuiltPackage,
    PackageBuild,
    StagedPackage,
    record_rows,
    remove_leftovers,
)
from collection.releases.checks import APPROVERS, ReleaseChecks
from collection.releases.errors import NothingToRelease, ReleaseBuildFailed, ReleaseRuleError
from collection.releases.fields import check_fields
from collection.releases.models import Release, ReleaseState
from collection.releases.models import WithdrawalListRecord as WithdrawalListRow
from collection.releases.package_access import PackageFile
from collection.releases.reading import ReleaseSettings, actor_of
from collection.releases.selection import recheck, select_items
from collection.releases.signing import release_signer, seal_release_key
from collection.releases.stored import StoredPackage
from collection.releases.withdrawals import lock_releases_of, record_withdrawal
from consent.canonical import format_timestamp
from consent.db import new_id

__all__ = [
    "APPROVERS",
    "MAX_LICENSEE",
    "MAX_PURPOSE",
    "PackageFile",
    "ReleaseDraft",
    "ReleaseService",
    "ReleaseSettings",
]

MAX_LICENSEE = 200
MAX_PURPOSE = 2000

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReleaseDraft:
    """What an operator asks for."""

    campaign: Campaign
    licensee: str
    purpose: str
    fields: Sequence[str]
    include_voice: bool = False


class ReleaseService(ReleaseChecks):
    """Drafts, builds, verifies, approves and delivers releases, and records withdrawals from them (see the
    module docstring). Reading and the constructor come from `ReleaseReader`, verification, approval and
    delivery from `ReleaseChecks`."""

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
        self.audit.record(actor_of(actor), "release.drafted", "release", release.id, campaign_id=draft.campaign.id, k=k)
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
            raise ReleaseBuildFailed(release.id, f"{target} already exists", code="target_exists")
        try:
            for contributor in selection.contributors:
                self.vault.key_for(contributor.keyholder)  # unwrapped and cached now: step 2 reads no key row
        except CryptoError as exc:
            logger.exception("release %s: a contributor's key could not be opened", release.id)
            raise ReleaseBuildFailed(release.id, "a contributor's key could not be opened",
                                     detail=f"{type(exc).__name__}: {exc}") from exc
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
            logger.exception("release %s: the package could not be written", plan.release_id)
            raise ReleaseBuildFailed(plan.release_id, "the package could not be written",
                                     detail=f"{type(exc).__name__}: {exc}") from exc
        stored: StoredPackage | None = None
        done = False
        try:
            report = self._report(staged.path, plan.public_keys, plan.k)
            stored = self._store(plan.release_id, staged.path)
            done = True
        finally:
            # A failed attempt leaves nothing. Once a package for the release's own path is stored, the sealed copy
            # is the package: the plaintext goes now, not after the commit, so a process that dies before the
            # commit leaves none in the package folder (only a staged file of a build killed mid-way, which
            # `remove_plaintext_leftovers` removes as the next process starts).
            if not done or (stored is not None and plan.own_path):
                staged.discard()
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
            logger.exception("release %s: the package could not be stored", release_id)
            raise ReleaseBuildFailed(release_id, "the package could not be kept in the blob store", code="store_failed",
                                     detail=f"{type(exc).__name__}: {exc}") from exc

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
            if built.kept_locally:
                built.staged.place(replace_leftover=plan.own_path)
        except OSError as exc:
            self.discard(built)
            logger.exception("release %s: the package could not be put in place", release.id)
            raise ReleaseBuildFailed(release.id, "the package could not be put in place",
                                     detail=f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            self.discard(built)
            raise
        # The package is in place (its file, or its sealed copy) before the row says so, never after: a built
        # release always has its package. Should this transaction roll back, a placed file is an unrecorded
        # leftover the next attempt replaces, and a stored copy one the orphan sweep removes.
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
                code="data_changed",
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
            actor_of(actor),
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

    # -- withdrawals -------------------------------------------------------------------------------------------------
    def record_withdrawal(self, subject_id: str, campaign_id: str) -> list[WithdrawalListRow]:
        """See `collection.releases.withdrawals.record_withdrawal`."""
        return record_withdrawal(self.consent, subject_id, campaign_id)


def _after_recorded(built: BuiltPackage) -> None:
    """Once a build is committed: remove what interrupted attempts left beside it and, when the package is stored
    in the blob store and was written to the release's own path, the build host's local file (the stored copy is
    the one every host reads, and the one an erasure anywhere can reach)."""
    remove_leftovers(built.staged)
    if built.stored is not None and built.plan.own_path:
        built.plan.target.unlink(missing_ok=True)


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
