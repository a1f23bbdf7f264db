"""Release packages shared through the blob store (at scale): a package one host built is verified, approved,
downloaded and erased on another host that has its own package folder and shares only the database and the blob
store; the stored copy is sealed (the bucket alone reveals nothing) and a tampered copy is refused. The sealed
parts themselves (collection.releases.stored) are tested without a database."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from anonymize import package_statement_sha256
from collection.audit.log import AuditLog
from collection.contributions.models import Enrollment
from collection.crypto import MasterKey
from collection.errors import BlobNotFound, DecryptionFailed, KeyUnwrapFailed, StorageBackendError
from collection.releases import ApprovalRefused, DeliveryRefused, ReleaseService, ReleaseSettings, ReleaseState
from collection.releases.jobs import build_now
from collection.releases.package_access import remove_plaintext_leftovers, stored_copy
from collection.releases.stored import PackageStore
from collection.releases.withdrawals import ErasedPackage, delete_packages
from collection.storage import MemoryBlobStore
from tests.collection.flow_support import MASTER, build_env, publish_notice
from tests.collection.test_releases import WITH_RELEASE, ScrubOnly, add_accepted_set, draft, stored
from webapp.demo_media import face_photo


@pytest.fixture()
def env(db_session: Any, test_sessionmaker: Any, clock: Any) -> Any:
    return build_env(db_session, test_sessionmaker, clock)


@pytest.fixture()
def campaign(make_campaign: Any) -> Any:
    return make_campaign()


@pytest.fixture()
def consenting(env: Any, make_user: Any, campaign: Any) -> Any:
    """A contributor with two accepted photos who consented to provision to third parties."""
    user, version = make_user("contributor"), publish_notice(env, campaign)
    photos = [stored(face_photo(i, size=240)) for i in (1, 2)]
    add_accepted_set(env, user, campaign, version, photos, WITH_RELEASE, env.blobs)
    return user


def host(env: Any, root: Path, name: str, store_packages: bool = True) -> ReleaseService:
    """The release service of one host: its own package folder, the shared database and blob store."""
    settings = ReleaseSettings(root / name / "packages", verify_faces=False, use_exiftool=False,
                               store_packages=store_packages)
    return ReleaseService(env.session, env.clock, env.consent, env.vault, env.blobs, AuditLog(env.session, env.clock),
                          MASTER, settings, media=ScrubOnly())


def built_on_a(env: Any, campaign: Any, make_user: Any, tmp_path: Path) -> tuple[Any, ReleaseService, Any]:
    """A release built on host A (committed), host B's service, and a compliance officer."""
    admin = make_user("admin")
    a = host(env, tmp_path, "a")
    release = draft(a, campaign, actor=admin)
    a.build(admin, release)
    env.session.commit()
    return release, host(env, tmp_path, "b"), make_user("compliance")


def files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_a_package_built_on_one_host_is_verified_approved_downloaded_and_erased_on_another(
    env: Any, campaign: Any, consenting: Any, make_user: Any, tmp_path: Path
) -> None:
    release, b, officer = built_on_a(env, campaign, make_user, tmp_path)
    assert release.package_blob and release.package_key and release.state is ReleaseState.VERIFIED
    assert files_in(tmp_path / "a") == []  # the build host keeps no copy an erasure elsewhere could not reach
    parts = [env.blobs.get(key) for key in env.blobs.iter_keys(release.package_blob)]
    assert parts and not any(b"manifest" in part or part.startswith(b"PK") for part in parts)  # sealed at rest

    check = b.prepare_verification(release)
    report = b.record_verification(officer, check, b.check_package(check))
    assert report["ok"] and report["package"] == release.package_path
    b.approve(officer, release)
    env.session.commit()
    with b.download(officer, release) as package:
        (tmp_path / "got.zip").write_bytes(package.file.read())
    assert package.name == Path(release.package_path).name and package.size == (tmp_path / "got.zip").stat().st_size
    assert package_statement_sha256(tmp_path / "got.zip") == release.statement_sha256
    assert files_in(tmp_path / "b") == []  # every fetched copy was for one use only

    enrollment = env.session.scalar(select(Enrollment).where(Enrollment.user_id == consenting.id))
    env.erasure.erase_enrollment(enrollment, "withdrawal")
    env.session.commit()
    assert list(env.blobs.iter_keys("releases/")) == []
    assert release.package_blob is None and release.package_key is None and release.package_path is None
    env.erasure.erase_enrollment(enrollment, "withdrawal")  # idempotent
    env.session.commit()
    with pytest.raises(DeliveryRefused):
        b.download(officer, release)


@pytest.mark.parametrize("tamper", ["flip", "swap", "drop"])
def test_a_tampered_stored_copy_is_neither_approved_nor_delivered_and_fails_verification(
    env: Any, campaign: Any, consenting: Any, make_user: Any, tmp_path: Path, tamper: str
) -> None:
    release, b, officer = built_on_a(env, campaign, make_user, tmp_path)
    other, _, _ = built_on_a(env, campaign, make_user, tmp_path)
    part = next(env.blobs.iter_keys(release.package_blob))
    if tamper == "flip":
        sealed = bytearray(env.blobs.get(part))
        sealed[len(sealed) // 2] ^= 1
        env.blobs.put(part, bytes(sealed))
    elif tamper == "swap":  # a validly sealed part, of another release's package
        env.blobs.put(part, env.blobs.get(next(env.blobs.iter_keys(other.package_blob))))
    else:
        env.blobs.delete(part)
    code = "package_missing" if tamper == "drop" else "package_changed"
    with pytest.raises(ApprovalRefused) as refused:
        b.approve(officer, release)
    assert refused.value.code == code

    release.state = ReleaseState.APPROVED  # as if approved before the copy was altered
    with pytest.raises(DeliveryRefused) as undelivered:
        b.download(officer, release)
    assert undelivered.value.code == code
    release.state = ReleaseState.VERIFIED

    check = b.prepare_verification(release)
    report = b.record_verification(officer, check, b.check_package(check))
    expected = "stored_copy_missing" if tamper == "drop" else "stored_copy_altered"
    assert not report["ok"] and [f["code"] for f in report["failures"]] == [expected]
    assert release.state is ReleaseState.VERIFY_FAILED and files_in(tmp_path / "b") == []


def test_the_embedded_default_keeps_only_the_local_file(
    env: Any, campaign: Any, consenting: Any, make_user: Any, tmp_path: Path
) -> None:
    svc = host(env, tmp_path, "embedded", store_packages=False)
    release = draft(svc, campaign)
    svc.build(None, release)
    env.session.commit()
    assert Path(release.package_path).is_file() and release.package_blob is None and release.package_key is None
    assert list(env.blobs.iter_keys("releases/")) == []


# -- the sealed parts, without a database ------------------------------------------------------------------------
def test_stored_parts_round_trip_and_refuse_reordering_truncation_and_another_key(tmp_path: Path) -> None:
    blobs = MemoryBlobStore()
    store = PackageStore(blobs, MasterKey(MASTER), part_size=1000)
    package = tmp_path / "p.zip"
    package.write_bytes(bytes(range(256)) * 15)  # 3840 bytes: four parts
    stored = store.upload("r1", package)
    keys = list(blobs.iter_keys(stored.prefix))
    assert len(keys) == 4 and stored.prefix.startswith("releases/r1/")
    store.fetch(stored, tmp_path / "back.zip")
    assert (tmp_path / "back.zip").read_bytes() == package.read_bytes()

    first, second = blobs.get(keys[0]), blobs.get(keys[1])
    blobs.put(keys[0], second)
    blobs.put(keys[1], first)
    with pytest.raises(DecryptionFailed):
        store.fetch(stored, tmp_path / "swapped.zip")
    assert not (tmp_path / "swapped.zip").exists()  # no partial file is left
    blobs.put(keys[0], first)
    blobs.put(keys[1], second)
    blobs.delete(keys[-1])
    with pytest.raises(BlobNotFound):
        store.fetch(stored, tmp_path / "cut.zip")
    with pytest.raises(KeyUnwrapFailed):
        PackageStore(blobs, MasterKey(b"K" * 32)).fetch(stored, tmp_path / "other.zip")
    assert store.delete(stored.prefix) == 3 and store.delete(stored.prefix) == 0


def test_an_empty_package_is_one_part(tmp_path: Path) -> None:
    blobs = MemoryBlobStore()
    store = PackageStore(blobs, MasterKey(MASTER), part_size=1000)
    (tmp_path / "empty").write_bytes(b"")
    stored = store.upload("r2", tmp_path / "empty")
    assert len(list(blobs.iter_keys(stored.prefix))) == 1
    store.fetch(stored, tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == b""


def test_the_background_build_stores_the_package_and_a_discarded_attempt_leaves_nothing(
    env: Any, campaign: Any, consenting: Any, tmp_path: Path
) -> None:
    """The build job (three steps, as a Celery worker runs it) stores the package; an attempt that loses the race
    to record its build removes its stored copy as well as its staged file."""
    worker = host(env, tmp_path, "worker")
    loser = draft(worker, campaign)
    built = worker.write_package(worker.plan_build(loser))
    assert built.stored is not None and list(env.blobs.iter_keys(built.stored.prefix))
    worker.discard(built)
    assert list(env.blobs.iter_keys("releases/")) == [] and files_in(tmp_path / "worker") == []

    release = build_now(worker, draft(worker, campaign).id, None)
    env.session.commit()
    assert release.state is ReleaseState.VERIFIED and release.package_blob is not None
    assert files_in(tmp_path / "worker") == []
    assert {key.rsplit("/", 1)[0] + "/" for key in env.blobs.iter_keys("releases/")} == {release.package_blob}


def test_a_copy_left_by_a_killed_use_is_removed_by_the_next_fetch(
    env: Any, campaign: Any, consenting: Any, make_user: Any, tmp_path: Path
) -> None:
    release, b, officer = built_on_a(env, campaign, make_user, tmp_path)
    folder = tmp_path / "b" / "packages"
    folder.mkdir(parents=True)
    stale, recent = folder / ".fetched-old-p.zip", folder / ".fetched-new-p.zip"
    for path in (stale, recent):
        path.write_bytes(b"faces")
    os.utime(stale, (time.time() - 2 * 86400,) * 2)
    b.approve(officer, release)
    assert not stale.exists() and recent.exists()  # a copy another request may still be verifying stays


def test_a_stale_local_file_at_the_recorded_path_is_not_taken_for_the_stored_package(
    env: Any, campaign: Any, consenting: Any, make_user: Any, tmp_path: Path
) -> None:
    """A file left at the recorded path (an attempt rolled back on this host) is neither verified nor delivered
    in place of the sealed copy: the stored copy is the package."""
    release, _, officer = built_on_a(env, campaign, make_user, tmp_path)
    other, _, _ = built_on_a(env, campaign, make_user, tmp_path)
    a = host(env, tmp_path, "a")
    stale = Path(release.package_path)
    a.packages.fetch(stored_copy(other), stale)  # a valid signed package, but not this release's
    assert package_statement_sha256(stale) != release.statement_sha256

    check = a.prepare_verification(release)
    report = a.record_verification(officer, check, a.check_package(check))
    assert report["ok"], report["failures"]
    a.approve(officer, release)
    with a.download(officer, release) as package:
        (tmp_path / "got.zip").write_bytes(package.file.read())
    assert package_statement_sha256(tmp_path / "got.zip") == release.statement_sha256


def test_verification_fails_for_a_package_that_is_not_the_one_built(
    env: Any, campaign: Any, consenting: Any, make_user: Any, tmp_path: Path
) -> None:
    """A sound, signed package that does not carry the statement recorded at the build fails `package_changed`."""
    svc = host(env, tmp_path, "embedded", store_packages=False)
    release, other = draft(svc, campaign), draft(svc, campaign)
    svc.build(None, release)
    svc.build(None, other)
    env.session.commit()
    Path(release.package_path).write_bytes(Path(other.package_path).read_bytes())
    report = svc.verify(make_user("compliance"), release)
    assert not report["ok"] and [f["code"] for f in report["failures"]] == ["package_changed"]
    assert release.state is ReleaseState.VERIFY_FAILED


def test_a_stored_build_leaves_no_plaintext_even_when_its_commit_never_comes(
    env: Any, campaign: Any, consenting: Any, tmp_path: Path
) -> None:
    """The process dies (or rolls back) after recording the build and before the commit: no package file stays."""
    worker = host(env, tmp_path, "worker")
    release = draft(worker, campaign)
    env.session.commit()
    built = worker.write_package(worker.plan_build(release))
    assert built.stored is not None and files_in(tmp_path / "worker") == []
    worker.record_build(None, built)
    env.session.rollback()
    assert files_in(tmp_path / "worker") == []


def test_plaintext_leftovers_older_than_six_hours_are_removed(tmp_path: Path) -> None:
    folder = tmp_path / "packages"
    folder.mkdir()
    old = [folder / ".fetched-x-p.zip", folder / ".building-y-p.zip", folder / ".building-z-dir"]
    young = [folder / ".fetched-a-p.zip", folder / ".building-b-p.zip"]
    kept = folder / "release-p.zip"  # a release's own file (the embedded default) is never a leftover
    for path in [*old[:2], *young, kept]:
        path.write_bytes(b"faces")
    old[2].mkdir()
    (old[2] / "manifest.csv").write_bytes(b"faces")
    for path in [*old, kept]:
        os.utime(path, (time.time() - 7 * 3600,) * 2)
    for path in young:
        os.utime(path, (time.time() - 5 * 3600,) * 2)
    assert remove_plaintext_leftovers(folder) == 3
    assert sorted(folder.iterdir()) == sorted([*young, kept])
    assert remove_plaintext_leftovers(tmp_path / "absent") == 0


class _FailingStore(MemoryBlobStore):
    """A bucket that fails: puts after the first `puts_ok`, and deletes of keys under `bad_prefix`."""

    def __init__(self, puts_ok: int = 10**6, bad_prefix: str = "\0") -> None:
        super().__init__()
        self.puts_ok = puts_ok
        self.bad_prefix = bad_prefix

    def put(self, key: str, data: bytes) -> None:
        if self.puts_ok <= 0:
            raise StorageBackendError("put", key, "connection reset")
        self.puts_ok -= 1
        super().put(key, data)

    def delete(self, key: str) -> None:
        if key.startswith(self.bad_prefix):
            raise StorageBackendError("delete", key, "access denied")
        super().delete(key)


def test_a_failed_cleanup_does_not_hide_why_the_upload_failed(tmp_path: Path) -> None:
    blobs = _FailingStore(puts_ok=1, bad_prefix="releases/")
    package = tmp_path / "p.zip"
    package.write_bytes(b"x" * 2500)
    with pytest.raises(StorageBackendError) as failed:
        PackageStore(blobs, MasterKey(MASTER), part_size=1000).upload("r1", package)
    assert failed.value.operation == "put"  # not the delete of the cleanup: the sweep removes the part later
    assert len(list(blobs.iter_keys("releases/r1/"))) == 1


def test_one_package_that_cannot_be_deleted_does_not_keep_the_others(tmp_path: Path) -> None:
    blobs = _FailingStore(bad_prefix="releases/r1/")
    for key in ("releases/r1/aaaa/000000", "releases/r2/bbbb/000000", "releases/r3/cccc/000000"):
        blobs.put(key, b"sealed")
    files = [tmp_path / f"p{i}.zip" for i in (1, 2, 3)]
    for path in files:
        path.write_bytes(b"faces")
    erased = [ErasedPackage(files[0], "releases/r1/aaaa/"), ErasedPackage(files[1], "releases/r2/bbbb/"),
              ErasedPackage(files[2], "releases/r3/cccc/")]
    with pytest.raises(StorageBackendError):
        delete_packages(erased, blobs)
    assert list(blobs.iter_keys("releases/")) == ["releases/r1/aaaa/000000"]
    assert not any(path.exists() for path in files)
