"""Writing one release package from a selection: decrypt each item, anonymize it, stream it into the signed
package, and record which items and contributors went in.

Memory stays bounded by the size of the selection's ids, not of the media: one item's bytes are in memory at
a time, the package streams to disk (`anonymize.PackageWriter`) and the item rows are inserted in batches.
The side table is generalised and suppressed until every person's set of classes is shared by k distinct people
before anything is written (k needs every row).

Pseudonyms: every id that leaves (subject, item, consent receipt) is a keyed HMAC under the release's own
key, so two releases cannot be joined and no id can be recomputed from a guess.
"""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Sequence
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
from collection.storage import BlobStore

_BATCH = 500
_SUBJECT = "subject_id"  # never an attribute: ReleaseInfo refuses attributes named like manifest columns


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
class BuildOutcome:
    summary: PackageSummary
    stats: BuildStats
    subjects: int


class PackageBuild:
    """One build of one release; the caller owns the transaction (rows are flushed, never committed)."""

    def __init__(
        self, session: Session, vault: KeyVault, blobs: BlobStore, media: MediaAnonymizer, pseudonyms: Pseudonymizer
    ) -> None:
        self.session = session
        self.vault = vault
        self.blobs = blobs
        self.media = media
        self.pseudonyms = pseudonyms
        self._medians: dict[str, np.ndarray | None] = {}

    def run(
        self, release_id: str, selection: Selection, info: ReleaseInfo, target: Path, signer: Signer
    ) -> BuildOutcome:
        """Write the package to `target`. Raises what the readers and anonymize raise; on any error the partial
        package is removed."""
        started = time.perf_counter()
        plan = [(c, item) for c in selection.contributors for item in c.items]
        stats = BuildStats()
        released, info = self._generalise(plan, info, stats)
        pending: list[dict[str, Any]] = []
        with PackageWriter(target, signer, info) as writer:
            for (contributor, item), attributes in zip(plan, released, strict=True):
                entry = self._entry(contributor, item, attributes, info.attributes)
                media = self._anonymized(contributor, item, stats)
                if media is None:
                    continue  # left out; the verifier re-measures k on what was written
                row = writer.add(entry, media)
                pending.append(_item_row(release_id, entry, item, contributor, row["sha256"]))
                if len(pending) >= _BATCH:
                    self._insert_items(pending)
        self._insert_items(pending)
        self._insert_subjects(release_id, selection)
        stats.seconds = round(time.perf_counter() - started, 2)
        assert writer.summary is not None
        return BuildOutcome(writer.summary, stats, len(selection.contributors))

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

    def _insert_items(self, pending: list[dict[str, Any]]) -> None:
        if pending:
            self.session.execute(insert(ReleaseItem), pending)
            pending.clear()

    def _insert_subjects(self, release_id: str, selection: Selection) -> None:
        rows = [
            {
                "release_id": release_id,
                "subject_id": c.subject_id,
                "pseudonym": self.pseudonyms.subject_id(c.subject_id),
                "items": len(c.items),
            }
            for c in selection.contributors
        ]
        for start in range(0, len(rows), _BATCH):
            self.session.add_all(ReleaseSubject(**row) for row in rows[start : start + _BATCH])
            self.session.flush()


def _item_row(
    release_id: str, entry: ManifestEntry, item: StoredItem, contributor: Contributor, sha256: str
) -> dict[str, Any]:
    return {
        "release_id": release_id,
        "item_id": entry.item_id,
        "kind": item.kind,
        "object_id": item.object_id,
        "subject_id": contributor.subject_id,
        "sha256": sha256,
    }
