"""`datadam bench release`: how fast photos are scrubbed and masked, and how much memory building a large
release takes.

Three figures, measured separately because they scale differently:

1. scrub+mask throughput (wall clock, and CPU seconds per photo, which does not depend on what else the
   machine is running) on `sample` distinct real photos from the shared evaluation data (decode, orient,
   sRGB, detect with both detector families, mask, encode, re-check the encoded file), in one process;
2. the same on phone-sized camera photos (the JPEGs of exif_samples whose longer side is at least 1500 px),
   where face search costs grow with the pixels: seconds per photo and the mean megapixels;
3. peak resident memory while k-anonymising the side table and streaming a signed package of `photos` items,
   synthesised by repeating the scrubbed sample (the package writer re-parses every item's metadata, hashes it
   and writes it, so the build does real work per item).

Peak RSS comes from getrusage (the process high-water mark, face models included); the build's own growth is
also sampled from /proc/self/statm every 1,000 items.
"""

from __future__ import annotations

import itertools
import resource
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from anonymize._hierarchies import AgeBands
from anonymize._image import scrub_image
from anonymize._kanon import KAnonResult, k_anonymize
from anonymize._manifest import ManifestEntry, ReleaseInfo
from anonymize._package import PackageWriter
from anonymize._pipeline import anonymize_photo
from anonymize._pseudonym import Pseudonymizer, new_release_key
from anonymize._signing import Ed25519Signer
from anonymize.errors import MediaError

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CAMERA_SET = "exif_samples"
PHOTO_SETS = ("fgnet", "cacd_vs", "face_recognition/examples", "dlib/faces", "mask_voc/images", "yale_faces")
_SUFFIXES = {".jpg", ".jpeg", ".png"}
_ARCHIVE_NAMES = {"zip": "release.zip", "tar": "release.tar", "dir": "release"}


@dataclass(frozen=True)
class BenchFigures:
    """The benchmark's results (rates in photos per second, memory in MiB)."""

    sample_photos: int
    scrub_only_photos_per_s: float
    scrub_mask_photos_per_s: float
    scrub_mask_cpu_seconds_per_photo: float
    faces_masked_in_sample: int
    camera_photos: int
    camera_megapixels_mean: float
    camera_seconds_per_photo: float
    release_photos: int
    archive: str
    k_anonymize_seconds: float
    build_seconds: float
    build_photos_per_s: float
    package_mib: float
    rss_before_build_mib: float
    rss_peak_during_build_mib: float
    peak_rss_mib: float
    under_1_gib: bool

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def run_release_benchmark(
    photos: int = 70_000,
    sample: int = 40,
    data_dir: Path | None = None,
    archive: str = "zip",
    workdir: Path | None = None,
    progress: bool = False,
    cameras: int = 8,
) -> BenchFigures:
    """Run the three measurements; raises `FileNotFoundError` when no face photos are found under `data_dir`
    (no camera photos only leave their figure at 0)."""
    files = sample_photos(data_dir or SHARED_DATA, sample)
    scrub_rate = _scrub_rate(files)
    masking = _scrub_mask(files, progress)
    camera_files = camera_photos(data_dir or SHARED_DATA, cameras) if cameras else []
    camera_run = _camera_run(camera_files, progress)
    scratch = Path(tempfile.mkdtemp(prefix="datadam-bench-", dir=workdir))
    try:
        target = scratch / _ARCHIVE_NAMES[archive]
        figures = _build(masking.outputs, photos, target, progress)
    finally:
        if workdir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    peak = _peak_rss_mib()
    return BenchFigures(
        sample_photos=len(files),
        scrub_only_photos_per_s=round(scrub_rate, 2),
        scrub_mask_photos_per_s=round(masking.photos_per_s, 3),
        scrub_mask_cpu_seconds_per_photo=round(masking.cpu_seconds_per_photo, 2),
        faces_masked_in_sample=masking.masked,
        camera_photos=len(camera_run.outputs) if camera_run else 0,
        camera_megapixels_mean=round(_megapixels(camera_run.files if camera_run else []), 1),
        camera_seconds_per_photo=round(1 / camera_run.photos_per_s, 2) if camera_run else 0.0,
        release_photos=photos,
        archive=archive,
        k_anonymize_seconds=figures.k_anonymize_seconds,
        build_seconds=figures.build_seconds,
        build_photos_per_s=figures.build_photos_per_s,
        package_mib=figures.package_mib,
        rss_before_build_mib=figures.rss_before_build_mib,
        rss_peak_during_build_mib=figures.rss_peak_during_build_mib,
        peak_rss_mib=round(peak, 1),
        under_1_gib=peak < 1024,
    )


def sample_photos(data_dir: Path, count: int) -> list[Path]:
    """`count` photos spread evenly over the face photo sets (deterministic)."""
    found = sorted(
        path
        for name in PHOTO_SETS
        for path in (data_dir / name).rglob("*")
        if path.suffix.lower() in _SUFFIXES and path.is_file()
    )
    if not found:
        raise FileNotFoundError(f"no photos under {data_dir}")
    step = max(len(found) // count, 1)
    return found[::step][:count]


def camera_photos(data_dir: Path, count: int = 8, min_side: int = 1500) -> list[Path]:
    """Up to `count` camera JPEGs under `data_dir`/exif_samples with a side of at least `min_side` px."""
    found = []
    for path in sorted((data_dir / CAMERA_SET).rglob("*")):
        if path.suffix.lower() not in (".jpg", ".jpeg") or not path.is_file():
            continue
        try:
            with Image.open(path) as image:
                if max(image.size) >= min_side:
                    found.append(path)
        except (OSError, Image.DecompressionBombError):
            continue
    return found[:count]


def _megapixels(files: list[Path]) -> float:
    sizes = []
    for path in files:
        with Image.open(path) as image:
            sizes.append(image.size[0] * image.size[1] / 1e6)
    return sum(sizes) / len(sizes) if sizes else 0.0


def _scrub_rate(files: list[Path]) -> float:
    started = time.perf_counter()
    done = 0
    for path in files:
        try:
            scrub_image(path.read_bytes())
            done += 1
        except MediaError:
            continue
    return done / max(time.perf_counter() - started, 1e-9)


@dataclass(frozen=True)
class _MaskRun:
    files: list[Path]  # the photos that were scrubbed (refused ones left out)
    outputs: list[bytes]
    photos_per_s: float
    cpu_seconds_per_photo: float
    masked: int


def _scrub_mask(files: list[Path], progress: bool) -> _MaskRun:
    started, cpu_started = time.perf_counter(), time.process_time()
    outputs: list[bytes] = []
    done: list[Path] = []
    masked = 0
    for index, path in enumerate(files, start=1):
        try:
            photo = anonymize_photo(path.read_bytes())
        except MediaError:
            continue
        done.append(path)
        outputs.append(photo.media.data)
        masked += photo.faces_masked
        if progress:
            print(f"\rscrub+mask {index}/{len(files)}", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    if not outputs:
        raise FileNotFoundError("none of the sampled photos could be scrubbed")
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return _MaskRun(done, outputs, len(outputs) / max(wall, 1e-9), cpu / len(outputs), masked)


def _camera_run(files: list[Path], progress: bool) -> _MaskRun | None:
    """The camera-photo figure is optional: no camera photos, or none that could be scrubbed, give None."""
    try:
        return _scrub_mask(files, progress) if files else None
    except FileNotFoundError:
        return None


def _records(count: int, pseudonyms: Pseudonymizer) -> list[dict[str, str]]:
    brackets = ("0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+")
    regions = ("수도권", "충청권", "호남권", "영남권", "강원권", "제주권")
    return [
        {
            "item_id": pseudonyms.item_id(f"item-{index}"),
            "subject_id": pseudonyms.subject_id(f"person-{index // 10}"),
            "age_bracket": brackets[(index * 7) % len(brackets)],
            "gender": "FM"[index % 2],
            "region": regions[(index * 5) % len(regions)],
        }
        for index in range(count)
    ]


@dataclass(frozen=True)
class _BuildFigures:
    k_anonymize_seconds: float
    build_seconds: float
    build_photos_per_s: float
    package_mib: float
    rss_before_build_mib: float
    rss_peak_during_build_mib: float


_QUASI = ("age_bracket", "gender", "region")


def _build(outputs: list[bytes], photos: int, target: Path, progress: bool) -> _BuildFigures:
    before = _current_rss_mib()
    pseudonyms = Pseudonymizer(new_release_key())
    started = time.perf_counter()
    released = k_anonymize(_records(photos, pseudonyms), _QUASI, 5, {"age_bracket": AgeBands()})
    k_seconds = time.perf_counter() - started
    started = time.perf_counter()
    peak = max(before, _write_package(target, released, outputs, pseudonyms, progress))
    seconds = time.perf_counter() - started
    return _BuildFigures(
        round(k_seconds, 2),
        round(seconds, 1),
        round(photos / seconds, 1),
        round(_size_mib(target), 1),
        round(before, 1),
        round(peak, 1),
    )


def _write_package(
    target: Path, released: KAnonResult, outputs: list[bytes], pseudonyms: Pseudonymizer, progress: bool
) -> float:
    """Stream the package; returns the highest RSS sampled while writing (MiB)."""
    info = ReleaseInfo(
        release_id=f"bench-{secrets.token_hex(4)}",
        campaign="bench",
        licensee="benchmark",
        purpose="benchmark",
        created_at="2025-01-01T00:00:00Z",
        collection_method="synthesised by repeating real photos",
        licence="internal benchmark",
        generalisation=released.generalised,
        suppressed_count=released.suppressed_count,
    )
    peak = 0.0
    with PackageWriter(target, Ed25519Signer.generate("bench"), info) as writer:
        for index, (row, media) in enumerate(zip(released.records, _cycle(outputs), strict=False)):
            attributes = {q: row[q] for q in _QUASI}
            receipt = pseudonyms.receipt_ref(str(index))
            writer.add(ManifestEntry(row["item_id"], row["subject_id"], "photo", "v1", receipt, attributes), media)
            if index % 1000 == 0:
                peak = max(peak, _current_rss_mib())
                if progress:
                    print(f"\rbuild {index}/{len(released.records)}", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return max(peak, _current_rss_mib())


def _cycle(outputs: list[bytes]) -> Iterator[bytes]:
    return itertools.cycle(outputs)


def _size_mib(path: Path) -> float:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20
    return path.stat().st_size / 2**20


def _current_rss_mib() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * resource.getpagesize() / 2**20


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
