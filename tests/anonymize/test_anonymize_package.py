"""Release packages: streaming writer, independent verifier, signed withdrawal lists."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path

import _anon_media as fx
import numpy as np
import pytest
from PIL import Image

from anonymize import (
    AgeBands,
    Ed25519Signer,
    ManifestEntry,
    PackageWriter,
    Pseudonymizer,
    ReleaseInfo,
    WithdrawalList,
    k_anonymize,
    new_release_key,
    read_withdrawal_list,
    scrub_audio,
    scrub_image,
    sign_withdrawal_list,
    verify_package,
)
from anonymize.errors import DuplicateItem, PackageError, ReleaseFormatError, SignatureError, UnscrubbedMedia

QI = ("age_bracket", "gender", "region")
SIGNER = Ed25519Signer.generate("release-2025-01")
KEYS = {SIGNER.key_id: SIGNER.public_key()}


def _photo(seed: int) -> bytes:
    image = fx.pattern()
    array = np.asarray(image).copy()
    array[-4:, -4:] = seed % 256
    return scrub_image(fx.jpeg_with_everything(Image.fromarray(array), trailer=False)).data


def _info(**overrides: object) -> ReleaseInfo:
    values: dict[str, object] = {
        "release_id": "rel-1",
        "campaign": "aging-faces-2025",
        "licensee": "Example Research Lab",
        "purpose": "face ageing research",
        "created_at": "2025-01-02T03:04:05Z",
        "collection_method": "smartphone uploads through the datadam web app",
        "licence": "research-only v1",
    }
    values.update(overrides)
    return ReleaseInfo(**values)  # type: ignore[arg-type]


def _rows(count: int = 12) -> list[dict[str, str]]:
    pseudonyms = Pseudonymizer(new_release_key())
    records = [
        {
            "item": pseudonyms.item_id(f"item-{n}"),
            "subject": pseudonyms.subject_id(f"person-{n // 2}"),
            "age_bracket": "20-29" if n % 2 else "30-39",
            "gender": "F",
            "region": "서울",
        }
        for n in range(count)
    ]
    return k_anonymize(records, QI, 5, {"age_bracket": AgeBands()}, subject_key="subject").records


def build(path: Path, rows: list[dict[str, str]] | None = None, info: ReleaseInfo | None = None) -> Path:
    rows = _rows() if rows is None else rows
    with PackageWriter(path, SIGNER, info or _info()) as writer:
        for n, row in enumerate(rows):
            media = _photo(n) if n % 3 else scrub_audio(fx.wav_with_tags(), "flac").data
            entry = ManifestEntry(
                row["item"],
                row["subject"],
                "photo" if n % 3 else "voice",
                "consent-v3",
                f"r-{n}",
                {q: row[q] for q in QI},
            )
            writer.add(entry, media)
    assert writer.summary is not None and writer.summary.items == len(rows)
    return path


@pytest.mark.parametrize("name", ["release.zip", "release.tar", "release.tar.gz", "release"])
def test_round_trip_every_container(tmp_path: Path, name: str) -> None:
    report = verify_package(build(tmp_path / name), KEYS, k_min=5)
    assert report.ok, report.to_dict()
    assert report.items == 12 and report.k_achieved == 6
    assert {c for c, s in report.checks.items() if s == "failed"} == set()


def test_package_contents(tmp_path: Path) -> None:
    root = build(tmp_path / "release")
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert {"manifest.jsonl", "manifest.csv", "datasheet.json", "DATASHEET.md", "signature.json"} <= set(names)
    assert sum(n.startswith("media/") for n in names) == 12
    rows = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    assert set(rows[0]) == {
        "item_id",
        "subject_id",
        "kind",
        "file",
        "sha256",
        "bytes",
        "consent_version",
        "receipt_ref",
        *QI,
    }
    datasheet = json.loads((root / "datasheet.json").read_text())
    assert datasheet["counts"]["items"] == 12 and datasheet["counts"]["subjects"] == 6
    assert datasheet["counts"]["by_attribute"]["age_bracket"] == {"20-29": 6, "30-39": 6}
    assert any("re-identify" in term for term in datasheet["use_terms"])
    assert any("re-hosting" in term for term in datasheet["use_terms"])
    assert "- 30-39: 6" in (root / "DATASHEET.md").read_text()


def test_writer_refuses_unscrubbed_and_unsafe_input(tmp_path: Path) -> None:
    with PackageWriter(tmp_path / "r.zip", SIGNER, _info()) as writer:
        entry = ManifestEntry("i-1", "s-1", "photo", "v1", "r-1", {"age_bracket": "20-29"})
        with pytest.raises(UnscrubbedMedia) as caught:
            writer.add(entry, fx.jpeg_with_everything())
        assert "EXIF:Artist" in caught.value.tags
        with pytest.raises(PackageError):
            writer.add(ManifestEntry("../evil", "s-1", "photo", "v1", "r"), _photo(1))
        with pytest.raises(PackageError):
            writer.add(entry, b"%PDF-1.4")
        with pytest.raises(PackageError):
            writer.add(ManifestEntry("i-2", "s-1", "photo", "v1", "r", {"eye_colour": "brown"}), _photo(1))
        writer.add(entry, _photo(1))
        with pytest.raises(DuplicateItem):
            writer.add(entry, _photo(2))
    with pytest.raises(PackageError):
        PackageWriter(tmp_path / "r.zip", SIGNER, _info())


def test_failed_build_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "r.zip"
    with pytest.raises(RuntimeError), PackageWriter(target, SIGNER, _info()) as writer:
        writer.add(ManifestEntry("i-1", "s-1", "photo", "v1", "r"), _photo(1))
        raise RuntimeError("stop")
    assert not target.exists()


def _failed(report) -> set[str]:  # type: ignore[no-untyped-def]
    return {f.check for f in report.failures}


def test_tampered_media_and_manifest_are_caught(tmp_path: Path) -> None:
    root = build(tmp_path / "release")
    media = sorted((root / "media").glob("*.jpg"))
    tampered = bytearray(media[0].read_bytes())
    middle = next(i for i in range(len(tampered) // 2, len(tampered)) if tampered[i] < 0xF0)
    tampered[middle] ^= 0x01  # one flipped bit in the entropy-coded data
    media[0].write_bytes(bytes(tampered))
    assert _failed(verify_package(root, KEYS)) == {"checksum"}
    media[1].write_bytes(fx.jpeg_with_everything(trailer=False))
    report = verify_package(root, KEYS)
    assert {"checksum", "metadata"} <= _failed(report)
    assert any("GPS:GPSLatitude" in f.detail for f in report.failures if f.file == f"media/{media[1].name}")
    csv_path = root / "manifest.csv"
    csv_path.write_text(csv_path.read_text().replace("consent-v3", "consent-v4"))
    assert {"signature", "manifest"} <= _failed(verify_package(root, KEYS))


def test_signature_needs_a_trusted_key(tmp_path: Path) -> None:
    root = build(tmp_path / "release")
    untrusted = verify_package(root, {})
    assert _failed(untrusted) == {"signature"}
    assert [(f.code, dict(f.params)) for f in untrusted.failures] == [("unknown_key", {"key_id": SIGNER.key_id})]
    assert untrusted.failures[0].detail == f"key {SIGNER.key_id!r}: not among the trusted public keys"
    other = Ed25519Signer.generate(SIGNER.key_id)
    forged = verify_package(root, {SIGNER.key_id: other.public_key()})
    assert _failed(forged) == {"signature"} and [f.code for f in forged.failures] == ["bad_signature"]
    (root / "signature.json").write_text("{not json")
    unreadable = verify_package(root, KEYS).failures[0]
    assert unreadable.code == "unreadable_signature" and unreadable.params["error"] in unreadable.detail


def test_failures_carry_a_code_and_params_beside_the_english_detail(tmp_path: Path) -> None:
    root = build(tmp_path / "release")
    (root / "notes.txt").write_text("hello")
    jpegs, flacs = sorted((root / "media").glob("*.jpg")), sorted((root / "media").glob("*.flac"))
    jpegs[0].write_bytes(fx.jpeg_with_everything(trailer=False))  # GPS and camera tags
    flacs[0].unlink()
    flacs[1].write_bytes(b"not media at all")
    (root / "media" / "010-1234-5678.jpg").write_bytes(_photo(99))  # unlisted, and a phone number as its name
    report = verify_package(root, KEYS, check_faces=False, use_exiftool=False)
    found = {(f.check, f.file, f.code): (f.detail, dict(f.params)) for f in report.failures}
    stray, tagged = "media/010-1234-5678.jpg", f"media/{jpegs[0].name}"
    gone, junk = (f"media/{flac.name}" for flac in flacs[:2])
    assert found[("structure", "notes.txt", "unexpected_file")] == ("unexpected file in the package", {})
    assert found[("manifest", gone, "listed_but_missing")] == ("listed in the manifest but missing", {})
    assert found[("manifest", stray, "not_in_manifest")] == ("media file not in the manifest", {})
    assert found[("pii", stray, "pii_in_file_name")] == ("file name holds a phone pattern", {"kind": "phone"})
    assert found[("checksum", junk, "checksum_mismatch")][0] == "size or SHA-256 differs from the manifest"
    assert found[("metadata", junk, "unreleasable_format")] == (
        "unknown is not a releasable media format",
        {"format": None},
    )
    detail, params = found[("metadata", tagged, "tags_not_allowed")]
    assert "GPS:GPSLatitude" in params["tags"] and detail == "tags outside the allow-list: " + ", ".join(params["tags"])
    assert all(f.code for f in report.failures)
    as_json = json.loads(json.dumps(report.to_dict()))  # what the CLI prints and the release service stores
    assert {"check", "file", "detail", "code", "params"} == set(as_json["failures"][0])
    assert {(f["code"], f["detail"]) for f in as_json["failures"]} == {(f.code, f.detail) for f in report.failures}


def test_an_invalid_datasheet_k_is_coded(tmp_path: Path) -> None:
    root = build(tmp_path / "release")
    datasheet = root / "datasheet.json"
    datasheet.write_text(json.dumps({**json.loads(datasheet.read_text()), "k": 0}))
    (failure,) = (f for f in verify_package(root, KEYS, check_faces=False).failures if f.check == "k_anonymity")
    assert failure.detail == "quasi-identifiers or k unreadable: k must be a whole number >= 1, got 0"
    assert (failure.code, dict(failure.params)) == ("datasheet_k_invalid", {"value": "0"})


def test_extra_and_missing_files(tmp_path: Path) -> None:
    root = build(tmp_path / "release")
    (root / "notes.txt").write_text("hello")
    next(iter((root / "media").glob("*.flac"))).unlink()
    report = verify_package(root, KEYS)
    assert {"structure", "manifest"} <= _failed(report)
    assert any(f.file == "notes.txt" for f in report.failures)


def test_pii_in_released_text_is_caught(tmp_path: Path) -> None:
    rows = _rows()
    for row in rows:
        row["region"] = "서울 010-1234-5678"
    report = verify_package(build(tmp_path / "release", rows), KEYS)
    assert _failed(report) == {"pii"}
    assert any("phone" in f.detail for f in report.failures)
    assert {(f.code, f.params["kind"]) for f in report.failures} == {("pii_in_line", "phone")}
    assert all(f.detail == f"line {f.params['line']}: phone pattern" for f in report.failures)


def test_k_below_minimum_is_caught(tmp_path: Path) -> None:
    rows = _rows()
    rows[0]["gender"] = "M"  # a class of one, not suppressed
    report = verify_package(build(tmp_path / "release", rows), KEYS, k_min=5)
    assert _failed(report) == {"k_anonymity"} and report.k_achieved == 1
    assert report.to_dict()["failures"][0]["check"] == "k_anonymity" and report.to_dict()["k_required"] == 5


def test_k_counts_people_not_rows(tmp_path: Path) -> None:
    # Two people with ten photos each, each alone in their bracket: ten rows per class, one person.
    rows = [
        {"item": f"item-{who}-{n}", "subject": who, "age_bracket": age, "gender": "F", "region": "서울"}
        for who, age in (("ab12", "20-29"), ("cd34", "30-39"))
        for n in range(10)
    ]
    report = verify_package(build(tmp_path / "release", rows), KEYS, k_min=5, check_faces=False)
    assert _failed(report) == {"k_anonymity"}
    assert report.k_achieved == 1 and report.k_required == 5
    assert "1 distinct people; k required 5" in report.failures[0].detail


def test_datasheet_k_is_required_when_above_k_min(tmp_path: Path) -> None:
    # _rows() releases classes of six people; a datasheet promising k=10 must not pass at --k-min 5.
    promised_ten = verify_package(build(tmp_path / "ten", info=_info(k=10)), KEYS, k_min=5, check_faces=False)
    assert _failed(promised_ten) == {"k_anonymity"}
    assert promised_ten.k_achieved == 6 and promised_ten.k_required == 10
    assert "k required 10 (k_min 5, datasheet k 10)" in promised_ten.failures[0].detail
    assert promised_ten.failures[0].code == "k_too_low"
    assert promised_ten.failures[0].params == {"achieved": 6, "required": 10, "k_min": 5, "promised": 10}
    promised_six = verify_package(build(tmp_path / "six", info=_info(k=6)), KEYS, k_min=5, check_faces=False)
    assert promised_six.ok and promised_six.k_required == 6
    stricter_caller = verify_package(tmp_path / "six", KEYS, k_min=7, check_faces=False)
    assert _failed(stricter_caller) == {"k_anonymity"} and stricter_caller.k_required == 7


def test_unreadable_package(tmp_path: Path) -> None:
    with pytest.raises(ReleaseFormatError) as missing:
        verify_package(tmp_path / "missing.zip", KEYS)
    assert missing.value.code == "no_such_package" and missing.value.cause is None
    bogus = tmp_path / "bogus.zip"
    bogus.write_bytes(b"not an archive")
    with pytest.raises(ReleaseFormatError) as bad:
        verify_package(bogus, KEYS)
    assert bad.value.code == "not_a_package" and bad.value.cause and bad.value.cause in str(bad.value)


def test_zip_is_streamed_with_stored_media(tmp_path: Path) -> None:
    path = build(tmp_path / "release.zip")
    with zipfile.ZipFile(path) as archive:
        kinds = {i.filename.split("/")[0]: i.compress_type for i in archive.infolist()}
    assert kinds["media"] == zipfile.ZIP_STORED and kinds["manifest.jsonl"] == zipfile.ZIP_DEFLATED


@pytest.mark.slow
def test_second_face_in_a_released_photo_is_caught(tmp_path: Path) -> None:
    from test_anonymize_masking import scene

    buffer = io.BytesIO()
    Image.fromarray(scene()).save(buffer, "JPEG", quality=92)
    rows = _rows(5)
    with PackageWriter(tmp_path / "release", SIGNER, _info()) as writer:
        for n, row in enumerate(rows):
            writer.add(
                ManifestEntry(row["item"], row["subject"], "photo", "v3", f"r-{n}", {q: row[q] for q in QI}),
                buffer.getvalue() if n == 0 else _photo(n),
            )
    report = verify_package(tmp_path / "release", KEYS)
    assert _failed(report) == {"faces"}
    assert "3 faces detectable" in report.failures[0].detail
    assert report.failures[0].code == "extra_faces" and report.failures[0].params["count"] == 3
    assert report.failures[0].detail.endswith("; ".join(str(tuple(b)) for b in report.failures[0].params["boxes"]))


def test_withdrawal_list_round_trip_and_tampering() -> None:
    withdrawals = WithdrawalList("rel-1", 2, "2025-02-01T00:00:00Z", ("s-bbb", "s-aaa", "s-aaa"))
    document = sign_withdrawal_list(withdrawals, SIGNER)
    read = read_withdrawal_list(document, KEYS)
    assert read.subject_ids == ("s-aaa", "s-bbb") and read.sequence == 2 and read.release_id == "rel-1"
    parsed = json.loads(document)
    parsed["statement"]["subject_ids"] = ["s-aaa"]
    with pytest.raises(SignatureError):
        read_withdrawal_list(json.dumps(parsed).encode(), KEYS)
    with pytest.raises(SignatureError):
        read_withdrawal_list(document, {"someone-else": SIGNER.public_key()})
    with pytest.raises(ReleaseFormatError):
        read_withdrawal_list(b"{not json", KEYS)
    with pytest.raises(ReleaseFormatError):
        sign_withdrawal_list(WithdrawalList("rel-1", 0, "t", ("s-1",)), SIGNER)
    assert base64.b64decode(parsed["signature"])


def test_datasheet_states_k_in_korean_and_english(tmp_path: Path) -> None:
    text = (build(tmp_path / "release") / "DATASHEET.md").read_text()
    assert "서로 다른 사람이 5명 이상" in text and "k >= 5 distinct people per signature" in text
    assert "12개, 기여자 6명" in text and "12 items from 6 contributors" in text


@pytest.mark.parametrize(
    ("overrides", "korean", "english"),
    [
        ({"k": 10}, "6명만 있어 k = 10에 미치지 못합니다", "holds 6 people, fewer than k = 10"),
        ({"quasi_identifiers": ()}, "준식별자가 없어", "no quasi-identifiers were released"),
        ({"suppressed_count": 12}, "모든 행의 준식별자", "every row's quasi-identifiers"),
    ],
)
def test_datasheet_never_claims_a_k_that_holds_of_nothing(
    tmp_path: Path, overrides: dict[str, object], korean: str, english: str
) -> None:
    text = (build(tmp_path / "release", info=_info(**overrides)) / "DATASHEET.md").read_text()
    assert korean in text and english in text
    assert "distinct people per signature" not in text
