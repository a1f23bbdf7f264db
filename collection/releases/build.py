"""Writing one release package from a selection: decrypt each item, anonymize it, stream it into the signed
package, and list which items and contributors went in, so the caller can record them.

`PackageBuild` touches no database: it takes several seconds per photo, and a transaction held open that long
would block every other writer (on SQLite the whole database). What it needs is read before (`Selection`, the
contributors' unwrapped keys, the signer) and what it did is recorded after (`record_rows`), each in a short
transaction of its own.

The package is written beside its final place under a staging name (`StagedPackage`) and moved there only when
the build is recorded, under the release's row lock: a file at a release's path is always the one its row
describes, and an interrupted attempt leaves at most a staging file, removed by the next build that succeeds.

Memory stays bounded by the size of the selection's ids, not of the media: one item's bytes are in memory at
a time and the package streams to disk (`anonymize.PackageWriter`). The side table is generalised and
suppressed until every person's set of classes is shared by k distinct people before anything is written (k
needs every row).

Pseudonyms: every id that leaves (subject, item, consent receipt) is a keyed HMAC under the release's own
key, so two releases cannot be joined and no id can be recomputed from a guess.
"""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert
from sqlalchemy.orm import Session

from anonymize import KAnonResult, ManifestEntry, PackageSummary, PackageWriter, Pseudonymizer, ReleaseInfo, Signer
from anonymize import k_anonymize as generalise
from collection.crypto import KeyVault
from collection.releases.fields import ItemFacts, hierarchies, values
from collection.releases.media import MediaAnonymizer
from collection.releases.models import ReleaseItem, ReleaseSubject
from collection.releases.selection import Contributor, Selection, StoredItem
from collection.releases.stored import StoredPackage
from collection.storage import BlobStore

_BATCH = 500
_SUBJECT = "subject_id"  # never an attribute: ReleaseInfo refuses attributes named like manifest columns
STAGING = ".building-"  # a package being written; never a release's own name


@dataclass
class BuildStats:
    """What the build did, for the release row and the operator's page (no personal data)."""

    photos: int = 0
    voice: int = 0
    faces_masked: int = 0
    subject_not_found: int = 0
    unclean: int = 0  # photos left out: after masking a face other than the contributor's was still found
    seconds: float = 0.0
    k_achieved: int | None = None
    suppressed_count: int = 0
    generalisation: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class WrittenItem:
    """One item that went into the package, and the SHA-256 of its released media."""

    contributor: Contributor
    item: StoredItem
    sha256: str


@dataclass(frozen=True)
class BuildOutcome:
    summary: PackageSummary
    stats: BuildStats
    subjects: int
    written: tuple[WrittenItem, ...]


@dataclass(frozen=True)
class StagedPackage:
    """A package written beside `target` under a staging name; `place` moves it there, `discard` removes it."""

    path: Path
    target: Path

    @classmethod
    def beside(cls, target: Path, token: str) -> StagedPackage:
        # The staging name ends with the target's name, so it keeps the suffix that picks the archive format.
        return cls(target.with_name(f"{STAGING}{token}-{target.name}"), target)

    def place(self, replace_leftover: bool) -> None:
        """Move the package to `target`. A file already there is replaced only when `replace_leftover` (the
        release's own default path: an earlier attempt moved it but never recorded it). Raises OSError."""
        if self.target.exists() or self.target.is_symlink():
            if not replace_leftover:
                raise FileExistsError(f"{self.target} already exists")
            remove_path(self.target)
        os.replace(self.path, self.target)

    def discard(self) -> None:
        remove_path(self.path)

    def leftovers(self) -> list[Path]:
        """Staging files of interrupted attempts at the same target (not this one)."""
        found = self.target.parent.glob(f"{STAGING}*-{self.target.name}")
        return [path for path in found if path != self.path]


def remove_leftovers(staged: StagedPackage) -> None:
    """Remove what interrupted attempts at `staged.target` left; run once a build of it is recorded."""
    for path in staged.leftovers():
        remove_path(path)


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class BuildPlan:
    """Everything the slow step of a build needs, read at once: it reads nothing else from the database."""

    release_id: str
    include_voice: bool
    k: int
    info: ReleaseInfo
    selection: Selection
    target: Path
    own_path: bool  # the release's default path: a leftover of an unrecorded attempt there may be replaced
    signer: Signer
    public_keys: dict[str, bytes]


@dataclass(frozen=True)
class BuiltPackage:
    """A package written and verified beside its target (`staged`), not recorded yet."""

    plan: BuildPlan
    staged: StagedPackage
    outcome: BuildOutcome
    report: dict[str, Any]
    release_key: bytes = field(repr=False)
    stored: StoredPackage | None = None  # its sealed copy in the blob store, when packages are shared

    @property
    def kept_locally(self) -> bool:
        """Whether the staged file is moved to the target when recorded: not when the sealed copy stands for a
        package of the release's own path (the staged file is gone already); a path asked for is honoured."""
        return self.stored is None or not self.plan.own_path


@dataclass(frozen=True)
class PackageCheck:
    """What verifying a built release needs: its package as recorded (the build host's path and the sealed copy
    in the blob store, if any), k and the release public keys."""

    release_id: str
    package: Path
    statement_sha256: str | None
    k: int
    public_keys: dict[str, bytes]
    stored: StoredPackage | None = None


class PackageBuild:
    """One build of one release. Reads nothing from the database: the vault must hold every contributor's
    unwrapped key already (`KeyVault.key_for`)."""

    def __init__(self, vault: KeyVault, blobs: BlobStore, media: MediaAnonymizer, pseudonyms: Pseudonymizer) -> None:
        self.vault = vault
        self.blobs = blobs
        self.media = media
        self.pseudonyms = pseudonyms
        self._medians: dict[str, np.ndarray | None] = {}

    def run(self, selection: Selection, info: ReleaseInfo, target: Path, signer: Signer) -> BuildOutcome:
        """Write the package to `target`. Raises what the readers and anonymize raise; on any error the partial
        package is removed."""
        started = time.perf_counter()
        plan = [(c, item) for c in selection.contributors for item in c.items]
        stats = BuildStats()
        released, info = self._generalise(plan, info, stats)
        written: list[WrittenItem] = []
        with PackageWriter(target, signer, info) as writer:
            for (contributor, item), attributes in zip(plan, released, strict=True):
                entry = self._entry(contributor, item, attributes, info.attributes)
                media = self._anonymized(contributor, item, stats)
                if media is None:
                    continue  # left out; the verifier re-measures k on what was written
                row = writer.add(entry, media)
                written.append(WrittenItem(contributor, item, row["sha256"]))
        stats.seconds = round(time.perf_counter() - started, 2)
        assert writer.summary is not None
        return BuildOutcome(writer.summary, stats, len(selection.contributors), tuple(written))

    def _generalise(
        self, plan: Sequence[tuple[Contributor, StoredItem]], info: ReleaseInfo, stats: BuildStats
    ) -> tuple[list[dict[str, Any]], ReleaseInfo]:
        fields = info.attributes
        # k counts people, not photos: each row carries its person's pseudonym (the manifest's subject_id).
        records = [
            {**values(fields, ItemFacts(item.kind, item.bracket)), _SUBJECT: self.pseudonyms.subject_id(c.subject_id)}
            for c, item in plan
        ]
        if not fields:
            return records, info
        result: KAnonResult = generalise(records, fields, info.k, hierarchies(fields), subject_key=_SUBJECT)
        stats.k_achieved = result.k_achieved
        stats.suppressed_count = result.suppressed_count
        stats.generalisation = dict(result.generalised)
        info = dataclasses.replace(info, generalisation=result.generalised, suppressed_count=result.suppressed_count)
        return result.records, info

    def _entry(
        self, contributor: Contributor, item: StoredItem, attributes: dict[str, Any], fields: Sequence[str]
    ) -> ManifestEntry:
        return ManifestEntry(
            item_id=self.pseudonyms.item_id(item.object_id),
            subject_id=self.pseudonyms.subject_id(contributor.subject_id),
            kind=item.kind,
            consent_version=contributor.consent_version,
            receipt_ref=self.pseudonyms.receipt_ref(contributor.receipt_id),
            attributes={name: str(attributes[name]) for name in fields},
        )

    def _anonymized(self, contributor: Contributor, item: StoredItem, stats: BuildStats) -> bytes | None:
        """The item as released, or None for a photo whose masking re-check still found a face other than the
        contributor's: it is left out (counted in `unclean`) rather than shipped with a bystander visible."""
        data = self._open(contributor, item.blob_key, item.version)
        if item.kind == "voice":
            stats.voice += 1
            return self.media.voice(data)
        photo = self.media.photo(data, self._encoding(contributor, item))
        if not photo.clean:
            stats.unclean += 1
            return None
        stats.photos += 1
        stats.faces_masked += photo.faces_masked
        stats.subject_not_found += 0 if photo.subject_kept else 1
        return photo.data

    def _open(self, contributor: Contributor, key: str, version: int) -> bytes:
        return self.vault.open(contributor.keyholder, key, version, self.blobs.get(key))

    def _encoding(self, contributor: Contributor, item: StoredItem) -> np.ndarray | None:
        """The contributor's face encoding to keep: this photo's own, else the median of their other photos'
        (bystanders are whoever does not match it)."""
        if item.encoding_key:
            return self._load_encoding(contributor, item.encoding_key, item.version)
        if contributor.subject_id not in self._medians:
            known = [
                self._load_encoding(contributor, i.encoding_key, i.version) for i in contributor.items if i.encoding_key
            ]
            self._medians[contributor.subject_id] = np.median(np.stack(known), axis=0) if known else None
        return self._medians[contributor.subject_id]

    def _load_encoding(self, contributor: Contributor, key: str, version: int) -> np.ndarray:
        return np.load(io.BytesIO(self._open(contributor, key, version)), allow_pickle=False)


def record_rows(
    session: Session, release_id: str, selection: Selection, outcome: BuildOutcome, pseudonyms: Pseudonymizer
) -> None:
    """Insert which items and contributors went into the release, in batches (flushed, never committed)."""
    for batch in _batches(_item_row(release_id, w, pseudonyms) for w in outcome.written):
        session.execute(insert(ReleaseItem), batch)
    subjects = (
        {
            "release_id": release_id,
            "subject_id": c.subject_id,
            "pseudonym": pseudonyms.subject_id(c.subject_id),
            "items": len(c.items),
        }
        for c in selection.contributors
    )
    for batch in _batches(subjects):
        session.add_all(ReleaseSubject(**row) for row in batch)
        session.flush()


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _item_row(release_id: str, written: WrittenItem, pseudonyms: Pseudonymizer) -> dict[str, Any]:
    return {
        "release_id": release_id,
        "item_id": pseudonyms.item_id(written.item.object_id),
        "kind": written.item.kind,
        "object_id": written.item.object_id,
        "subject_id": written.contributor.subject_id,
        "sha256": written.sha256,
    }
