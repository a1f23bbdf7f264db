"""Checking a built release before and as it goes out: verification (in three steps, like the build:
`prepare_verification` / `check_package` / `record_verification`, the slow middle one reading nothing from the
database), a compliance officer's approval of a verified release, and audited downloads of an approved one. Each
looks at the package itself, fetched for that one use when it is kept in the blob store
(collection.releases.package_access), and refuses one that is not the package that was built.
`ReleaseService` (collection.releases.service) is built on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from anonymize import package_statement_sha256, verify_package
from anonymize.errors import ReleaseFormatError
from collection.accounts.models import Role, User
from collection.errors import BlobNotFound, CryptoError, StorageError
from collection.releases.build import PackageCheck
from collection.releases.errors import ApprovalRefused, DeliveryRefused, ReleaseStateError
from collection.releases.models import Release, ReleaseState
from collection.releases.package_access import (
    PACKAGE_PROBLEMS,
    PackageFile,
    open_package,
    package_here,
    package_problem,
    stored_copy,
)
from collection.releases.reading import ReleaseReader, actor_of

APPROVERS = (Role.COMPLIANCE, Role.ADMIN)


class ReleaseChecks(ReleaseReader):
    """Verification, approval and delivery of built releases."""

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
            stored_copy(release),
        )

    def check_package(self, check: PackageCheck) -> dict[str, Any]:
        """Step 2, the slow one (every photo is searched for faces), with no database access: the report. A
        stored copy that is gone or does not open fails the verification, and so does a package that does not carry
        the statement recorded at the build (`package_changed`: however sound, it is not the package that was
        built). Raises ReleaseStateError when the blob store cannot be read now (nothing is recorded: verify again
        later)."""
        try:
            with package_here(self.packages, self.settings.package_dir, check.package, check.stored) as path:
                report = self._report(path, check.public_keys, check.k)
                if _carries_another_statement(path, check.statement_sha256):
                    report = _not_the_built_package(report)
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
            actor_of(actor),
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
            actor_of(officer),
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
        problem = package_problem(self.packages, self.settings.package_dir, release)
        if problem is not None:
            raise ApprovalRefused(release.id, PACKAGE_PROBLEMS[problem], code=problem)

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
        package = open_package(self.packages, self.settings.package_dir, release)
        try:
            self.audit.record(actor_of(actor), "release.downloaded", "release", release.id,
                              statement_sha256=release.statement_sha256, bytes=package.size)
            self.session.flush()
        except BaseException:
            package.file.close()
            raise
        return package


def _carries_another_statement(path: Path, statement_sha256: str | None) -> bool:
    """Whether the package at `path` opens but its signed statement is not the one recorded at the build (one that
    does not open at all fails the report already, with the reason)."""
    try:
        return package_statement_sha256(path) != statement_sha256
    except ReleaseFormatError:
        return False


def _not_the_built_package(report: dict[str, Any]) -> dict[str, Any]:
    """`report` failed with `package_changed`: the package read is not the one recorded at the build."""
    failure: dict[str, Any] = {"check": "structure", "file": None, "code": "package_changed", "params": {},
               "detail": "the package does not carry the statement recorded at the build: it is not the one built"}
    return {**report, "ok": False, "failures": [*report.get("failures", []), failure]}


def _unusable_copy(package: Path, code: str, detail: str) -> dict[str, Any]:
    """The report of a package whose stored copy could not be read: one structure failure, shaped as `_unopenable`."""
    return {"ok": False, "package": str(package), "items": 0, "k_achieved": None, "checks": {},
            "failures": [{"check": "structure", "file": None, "detail": detail, "code": code, "params": {}}]}


def _unopenable(exc: ReleaseFormatError) -> dict[str, Any]:
    """The one failure of a package that could not be opened at all, shaped as anonymize's report shapes every
    failure (English detail, stable code, params) so the pages word it like the others."""
    params = {} if exc.cause is None else {"error": exc.cause}
    return {"check": "structure", "file": None, "detail": str(exc), "code": exc.code, "params": params}
