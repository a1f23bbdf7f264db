"""The release package's text parts: manifest rows (JSONL and CSV), the datasheet, and the signed statement.

Package layout (format `datadam-release/1`), the same in a zip, a tar or a directory:

    media/<item_id>.<jpg|png|wav|flac>   scrubbed media, named by pseudonymous item id
    manifest.jsonl / manifest.csv        one row per item: ids, kind, file, sha256, bytes, consent version,
                                         receipt reference and the released (generalised) attributes
    datasheet.json / DATASHEET.md        counts per bracket and attribute, collection method, licence, terms
    signature.json                       Ed25519 signature over a statement naming the digests of the above

Every text file is UTF-8; JSON that is signed or hashed is canonical (sorted keys, no spaces, no ASCII
escaping), which for the strings and integers used here is the same as RFC 8785.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FORMAT = "datadam-release/1"
MANIFEST_JSONL = "manifest.jsonl"
MANIFEST_CSV = "manifest.csv"
DATASHEET_JSON = "datasheet.json"
DATASHEET_MD = "DATASHEET.md"
SIGNATURE_JSON = "signature.json"
MEDIA_DIR = "media/"
TEXT_FILES = (MANIFEST_JSONL, MANIFEST_CSV, DATASHEET_JSON, DATASHEET_MD)
SUBJECT_COLUMN = "subject_id"  # the pseudonymous person a row belongs to; k-anonymity counts distinct values
BASE_COLUMNS = ("item_id", SUBJECT_COLUMN, "kind", "file", "sha256", "bytes", "consent_version", "receipt_ref")
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

DEFAULT_USE_TERMS = (
    "Use only for the purpose stated in this datasheet, by the named licensee.",
    "No attempt to re-identify any person, and no linking with other data to that end.",
    "No re-hosting, redistribution or onward sharing of the media or the manifest.",
    "Delete every item of each pseudonymous subject id named in a signed withdrawal list within 5 days.",
    "Faces and voices remain personal data: keep them secured and delete them when the purpose is met.",
)


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8 without ASCII escaping."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class ReleaseInfo:
    """What the datasheet says about a release. `attributes` are the released side-table columns (in CSV
    order), `quasi_identifiers` the subset k-anonymity is measured over, `generalisation` what k_anonymize
    reported (quasi-identifier -> level name) and `suppressed_count` how many rows it suppressed."""

    release_id: str
    campaign: str
    licensee: str
    purpose: str
    created_at: str
    collection_method: str
    licence: str
    use_terms: tuple[str, ...] = DEFAULT_USE_TERMS
    attributes: tuple[str, ...] = ("age_bracket", "gender", "region")
    quasi_identifiers: tuple[str, ...] = ("age_bracket", "gender", "region")
    k: int = 5
    generalisation: Mapping[str, str] = field(default_factory=dict)
    suppressed_count: int = 0

    def __post_init__(self) -> None:
        missing = set(self.quasi_identifiers) - set(self.attributes)
        if missing:
            raise ValueError(f"quasi-identifiers not among the attributes: {', '.join(sorted(missing))}")
        clash = set(self.attributes) & set(BASE_COLUMNS)
        if clash:
            raise ValueError(f"attribute names clash with manifest columns: {', '.join(sorted(clash))}")

    @property
    def columns(self) -> tuple[str, ...]:
        return BASE_COLUMNS + self.attributes


@dataclass(frozen=True)
class ManifestEntry:
    """One item as the caller describes it: pseudonymous ids (see `Pseudonymizer`), "photo" or "voice", the
    consent document version, a release-scoped receipt reference, and the released attribute values."""

    item_id: str
    subject_id: str
    kind: str
    consent_version: str
    receipt_ref: str
    attributes: Mapping[str, str] = field(default_factory=dict)


def manifest_row(entry: ManifestEntry, file: str, sha256: str, size: int, info: ReleaseInfo) -> dict[str, str]:
    """The manifest row of `entry` with every column of `info` (missing attributes become "")."""
    row = {
        "item_id": entry.item_id,
        "subject_id": entry.subject_id,
        "kind": entry.kind,
        "file": file,
        "sha256": sha256,
        "bytes": str(size),
        "consent_version": entry.consent_version,
        "receipt_ref": entry.receipt_ref,
    }
    row.update({name: str(entry.attributes.get(name, "")) for name in info.attributes})
    return row


def csv_line(values: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


class DatasheetCounts:
    """Running counts for the datasheet; memory grows with distinct values and subjects, not with items."""

    def __init__(self, info: ReleaseInfo) -> None:
        self._info = info
        self.items = 0
        self.by_kind: Counter[str] = Counter()
        self.by_attribute: dict[str, Counter[str]] = {name: Counter() for name in info.attributes}
        self.by_cell: Counter[tuple[str, ...]] = Counter()
        self._subjects: set[str] = set()

    def add(self, row: Mapping[str, str]) -> None:
        self.items += 1
        self.by_kind[row["kind"]] += 1
        self._subjects.add(row["subject_id"])
        for name in self._info.attributes:
            self.by_attribute[name][row[name]] += 1
        self.by_cell[tuple(row[name] for name in self._info.quasi_identifiers)] += 1

    def document(self) -> dict[str, Any]:
        """The datasheet as a JSON-ready mapping."""
        info = self._info
        return {
            "format": FORMAT,
            "release_id": info.release_id,
            "campaign": info.campaign,
            "licensee": info.licensee,
            "purpose": info.purpose,
            "created_at": info.created_at,
            "collection_method": info.collection_method,
            "licence": info.licence,
            "use_terms": list(info.use_terms),
            "attributes": list(info.attributes),
            "quasi_identifiers": list(info.quasi_identifiers),
            "k": info.k,
            "generalisation": dict(info.generalisation),
            "suppressed_count": info.suppressed_count,
            "counts": {
                "items": self.items,
                "subjects": len(self._subjects),
                "by_kind": dict(sorted(self.by_kind.items())),
                "by_attribute": {n: dict(sorted(c.items())) for n, c in self.by_attribute.items()},
                "by_quasi_identifier_cell": [
                    {**dict(zip(info.quasi_identifiers, cell, strict=True)), "items": count}
                    for cell, count in sorted(self.by_cell.items())
                ],
            },
        }


def datasheet_markdown(document: Mapping[str, Any]) -> str:
    """A human-readable rendering of the datasheet document, Korean first and English second (the licensees are
    mostly Korean research teams). Its k line says what the k check really holds for this release."""
    counts = document["counts"]
    lines = [
        f"# 데이터시트 / Datasheet: release {document['release_id']}",
        "",
        f"- 캠페인 / Campaign: {document['campaign']}",
        f"- 이용 기관 / Licensee: {document['licensee']}",
        f"- 이용 목적 / Purpose: {document['purpose']}",
        f"- 생성 시각 / Created: {document['created_at']}",
        f"- 수집 방법 / Collection method: {document['collection_method']}",
        f"- 이용 허락 / Licence: {document['licence']}",
        f"- 항목 / Items: {counts['items']}개, 기여자 {counts['subjects']}명 / {counts['items']} items from"
        f" {counts['subjects']} contributors",
        *k_lines(document),
        "",
        "## 이용 조건 / Terms of use",
        "",
        *(f"- {term}" for term in document["use_terms"]),
        "",
        "## 집계 (일반화 후) / Counts (after generalisation)",
        "",
    ]
    for name, values in counts["by_attribute"].items():
        level = document["generalisation"].get(name, "as collected")
        lines.append(f"### {name} ({level})")
        lines.extend(f"- {value or '(blank)'}: {count}" for value, count in values.items())
        lines.append("")
    return "\n".join(lines)


def k_lines(document: Mapping[str, Any]) -> list[str]:
    """What the release's k-anonymity amounts to, in Korean and English. Fewer people than k, no quasi-identifier
    or every row suppressed each make "k >= N" true of nothing, so each is said as what it is."""
    k, people = document["k"], document["counts"]["subjects"]
    items, suppressed = document["counts"]["items"], document["suppressed_count"]
    fields = ", ".join(document["quasi_identifiers"])
    if people < k:
        return [f"- k-익명성: 이 릴리스에는 {people}명만 있어 k = {k}에 미치지 못합니다. 얼굴과 목소리는 속성 표와"
                " 관계없이 사람을 식별하므로, 속성을 가린 것만으로 익명이 되지 않습니다.",
                f"- k-anonymity: this release holds {people} people, fewer than k = {k}. Faces and voices identify"
                " people whatever the attribute table says: suppressing attributes does not make it anonymous."]
    if not fields:
        return ["- k-익명성: 준식별자가 없어 측정할 것이 없습니다.",
                "- k-anonymity: no quasi-identifiers were released, so there was nothing to measure."]
    if items and suppressed >= items:
        return [f"- k-익명성: 모든 행의 준식별자({fields})를 가렸습니다.",
                f"- k-anonymity: every row's quasi-identifiers ({fields}) were suppressed."]
    return [f"- k-익명성: 서명(한 사람의 행이 속한 등급의 집합)마다 서로 다른 사람이 {k}명 이상 ({fields});"
            f" 가린 행 {suppressed}개",
            f"- k-anonymity: k >= {k} distinct people per signature (the set of classes one person's rows fall in)"
            f" over {fields}; {suppressed} rows suppressed"]
