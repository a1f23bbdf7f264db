"""Evaluation of the anonymiser on the shared real data (`evaluate(data_dir)`), for the goals of issue 6.

1. Metadata: every file of exif_samples, exiftool_t_images, mat2_testdata and face_recognition is scrubbed
   (images to JPEG, recordings to WAV); each is either accepted - then the output is inspected by datadam's own
   parser and by exiftool when installed, and any tag outside the allow-list is counted - or refused, and the
   refusal must carry a message.
2. Orientation: the EXIF orientation samples must come out upright: same shape as, and nearly the same pixels
   as, the orientation-1 sample of their group (or, when that one is absent, the group's median image).
3. Bystanders: on the group photos (dlib/faces, multi-face mask_voc) faces are masked keeping the dominant one;
   the released JPEG is searched again by each detector family separately (dlib HOG, OpenCV Haar, the latter's
   texture left out by `confirmed_faces` exactly as the release verifier does); the goal is zero non-subject
   detections by either, with the subject still detected and its encoding within 0.2 of the
   original. Where hand-drawn boxes exist (mask_voc), the share of annotated bystanders actually covered is
   reported too, because detectors miss faces (masked, turned away, cut by the frame) that people still see.

Run: `python -m anonymize.evaluation [DATA_DIR] [--json] [--cnn]`.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from anonymize._audio import scrub_audio
from anonymize._exiftool import exiftool_available, exiftool_tags_many
from anonymize._faces import (
    MASKING_DETECTORS,
    DetectorSettings,
    FaceBox,
    cluster_faces,
    confirmed_faces,
    detect_faces,
    face_encodings,
    same_face,
)
from anonymize._formats import AUDIO_FORMATS, IMAGE_FORMATS, sniff
from anonymize._image import ScrubbedMedia, decode_image, scrub_image
from anonymize._masking import MaskSettings
from anonymize._metadata import disallowed_tags
from anonymize._pipeline import anonymize_photo
from anonymize.errors import AnonymizeError, UnsupportedFormat

METADATA_SETS = ("exif_samples", "exiftool_t_images", "mat2_testdata", "face_recognition")
ORIENTATION_DIR = "exif_samples/jpg/orientation"
SUBJECT_DISTANCE_GOAL = 0.2
_SKIP_NAMES = {"labels.csv"}
_UPRIGHT_MAX_DIFF = 12.0
_FAMILIES = {"hog": "dlib HOG", "haar": "OpenCV Haar", "cnn": "dlib CNN"}


@dataclass(frozen=True)
class FileOutcome:
    """One metadata-set file: accepted or refused (`refusal` = "code: message"), what was removed, and the
    tags outside the allow-list left in the output by our parser and by exiftool (None when not run)."""

    path: str
    kind: str
    accepted: bool
    refusal: str | None = None
    removed: tuple[str, ...] = ()
    own_tags_left: tuple[str, ...] = ()
    exiftool_tags_left: tuple[str, ...] | None = None


@dataclass(frozen=True)
class OrientationOutcome:
    """One orientation sample: whether it came out upright, and its mean absolute difference (0-255)."""

    path: str
    orientation_group: str
    upright: bool
    difference: float


@dataclass(frozen=True)
class GroupOutcome:
    """One group photo: faces found before masking, boxes painted, non-subject detections left per detector
    family in the released JPEG, whether the subject is still detected and their encoding distance, and the
    hand-annotated bystanders covered (None where no boxes exist)."""

    path: str
    faces_before: int
    masked_boxes: int
    non_subject_after: dict[str, int]
    subject_detected: bool
    subject_distance: float | None
    annotated_bystanders: int | None = None
    annotated_bystanders_covered: int | None = None


@dataclass(frozen=True)
class EvaluationReport:
    files: list[FileOutcome] = field(default_factory=list)
    orientation: list[OrientationOutcome] = field(default_factory=list)
    groups: list[GroupOutcome] = field(default_factory=list)
    exiftool_used: bool = False

    def summary(self) -> dict[str, Any]:
        """Headline figures against the goals."""
        accepted = [f for f in self.files if f.accepted]
        refused = [f for f in self.files if not f.accepted]
        after: defaultdict[str, int] = defaultdict(int)
        for group in self.groups:
            for family, count in group.non_subject_after.items():
                after[family] += count
        distances = [g.subject_distance for g in self.groups if g.subject_distance is not None]
        annotated = [g for g in self.groups if g.annotated_bystanders is not None]
        return {
            "files": len(self.files),
            "accepted": len(accepted),
            "refused": len(refused),
            "refused_with_message": sum(1 for f in refused if f.refusal and f.refusal.split(": ", 1)[-1].strip()),
            "own_parser_tags_left": sum(len(f.own_tags_left) for f in accepted),
            "exiftool_used": self.exiftool_used,
            "exiftool_tags_left": sum(len(f.exiftool_tags_left or ()) for f in accepted),
            "files_with_tags_left": sum(1 for f in accepted if f.own_tags_left or f.exiftool_tags_left),
            "orientation_upright": f"{sum(o.upright for o in self.orientation)}/{len(self.orientation)}",
            "group_photos": len(self.groups),
            "group_faces_before": sum(g.faces_before for g in self.groups),
            "group_boxes_masked": sum(g.masked_boxes for g in self.groups),
            "non_subject_faces_after": dict(after),
            "subject_still_detected": f"{sum(g.subject_detected for g in self.groups)}/{len(self.groups)}",
            "max_subject_distance": round(max(distances), 3) if distances else None,
            "subject_within_0_2": f"{sum(d <= SUBJECT_DISTANCE_GOAL for d in distances)}/{len(distances)}",
            "annotated_bystanders_covered": (
                f"{sum(g.annotated_bystanders_covered or 0 for g in annotated)}/"
                f"{sum(g.annotated_bystanders or 0 for g in annotated)}"
            ),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "files": [asdict(f) for f in self.files],
            "orientation": [asdict(o) for o in self.orientation],
            "groups": [asdict(g) for g in self.groups],
        }


def evaluate(
    data_dir: str | Path,
    *,
    use_exiftool: bool | None = None,
    metadata: bool = True,
    groups: bool = True,
    cnn: bool = False,
) -> EvaluationReport:
    """Run the evaluation over `data_dir` (the shared data folder). `use_exiftool=None` uses it if installed;
    `cnn=True` adds dlib's CNN detector, to masking and to the after-check (slow on a CPU)."""
    root = Path(data_dir)
    with_exiftool = exiftool_available() if use_exiftool is None else use_exiftool
    files = evaluate_metadata(root, with_exiftool) if metadata else []
    orientation = evaluate_orientation(root) if metadata else []
    settings = MaskSettings(detectors=replace(MASKING_DETECTORS, cnn=cnn))
    group_outcomes = evaluate_groups(root, settings) if groups else []
    return EvaluationReport(files, orientation, group_outcomes, with_exiftool)


# -- metadata ------------------------------------------------------------------------------------------------
def evaluate_metadata(root: Path, with_exiftool: bool) -> list[FileOutcome]:
    outcomes: list[FileOutcome] = []
    outputs: dict[int, bytes] = {}
    for path in _metadata_files(root):
        outcome, output = _scrub_file(root, path)
        if output is not None:
            outputs[len(outcomes)] = output
        outcomes.append(outcome)
    if with_exiftool:
        _add_exiftool(outcomes, outputs)
    return outcomes


def _metadata_files(root: Path) -> Iterator[Path]:
    for name in METADATA_SETS:
        for path in sorted((root / name).rglob("*")):
            if path.is_file() and path.name not in _SKIP_NAMES:
                yield path


def _scrub_file(root: Path, path: Path) -> tuple[FileOutcome, bytes | None]:
    relative = path.relative_to(root).as_posix()
    data = path.read_bytes()
    kind = sniff(data).kind
    try:
        if kind == "image":
            result: Any = scrub_image(data, "JPEG")
        elif kind == "audio":
            result = scrub_audio(data, "wav")
        else:
            raise UnsupportedFormat(sniff(data).format, IMAGE_FORMATS + AUDIO_FORMATS)
    except AnonymizeError as exc:
        return FileOutcome(relative, kind, False, f"{getattr(exc, 'code', 'error')}: {exc}"), None
    left = tuple(sorted({t.key for t in disallowed_tags(result.data)}))
    return FileOutcome(relative, kind, True, None, tuple(result.removed), left), result.data


def _add_exiftool(outcomes: list[FileOutcome], outputs: dict[int, bytes]) -> None:
    with tempfile.TemporaryDirectory(prefix="datadam-eval-") as scratch:
        paths: dict[str, int] = {}
        for index, data in outputs.items():
            suffix = ".jpg" if data[:3] == b"\xff\xd8\xff" else ".wav"
            target = Path(scratch) / f"{index}{suffix}"
            target.write_bytes(data)
            paths[str(target)] = index
        for path, tags in exiftool_tags_many(list(paths)).items():
            index = paths[path]
            left = tuple(sorted(t.key for t in tags if not t.allowed))
            outcomes[index] = replace(outcomes[index], exiftool_tags_left=left)


# -- orientation ---------------------------------------------------------------------------------------------
def evaluate_orientation(root: Path) -> list[OrientationOutcome]:
    groups: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for path in sorted((root / ORIENTATION_DIR).glob("*.jpg")):
        prefix = path.stem.rsplit("_", 1)[0]
        try:
            groups[prefix][path.name] = _thumbnail(scrub_image(path.read_bytes(), "PNG"))
        except AnonymizeError:
            groups[prefix][path.name] = np.zeros((0, 0), dtype=np.float64)
    outcomes: list[OrientationOutcome] = []
    for prefix, images in groups.items():
        reference = images.get(f"{prefix}_1.jpg")
        if reference is None:
            shapes = [i.shape for i in images.values() if i.size]
            common = max(set(shapes), key=shapes.count) if shapes else (0, 0)
            reference = np.median(np.stack([i for i in images.values() if i.shape == common]), axis=0)
        for name, image in images.items():
            same = image.shape == reference.shape and image.size > 0
            difference = float(np.abs(image - reference).mean()) if same else 255.0
            outcomes.append(
                OrientationOutcome(f"{ORIENTATION_DIR}/{name}", prefix, difference <= _UPRIGHT_MAX_DIFF, difference)
            )
    return outcomes


def _thumbnail(scrubbed: ScrubbedMedia) -> np.ndarray:
    with Image.open(io.BytesIO(scrubbed.data)) as image:
        landscape = image.width >= image.height
        size = (64, 48) if landscape else (48, 64)
        return np.asarray(image.convert("L").resize(size), dtype=np.float64)


# -- bystanders ----------------------------------------------------------------------------------------------
def group_photos(root: Path) -> list[tuple[Path, list[FaceBox] | None]]:
    """The multi-face evaluation photos, with their hand-drawn face boxes where they exist."""
    photos: list[tuple[Path, list[FaceBox] | None]] = [(p, None) for p in sorted((root / "dlib/faces").glob("*.jpg"))]
    labels = root / "mask_voc/labels.csv"
    if labels.is_file():
        with labels.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if int(row.get("n_faces") or 0) >= 2:
                    photos.append((root / row["image"], _voc_boxes(root / row["annotation"])))
    return [(p, boxes) for p, boxes in photos if p.is_file()]


def _voc_boxes(path: Path) -> list[FaceBox] | None:
    if not path.is_file():
        return None
    boxes = []
    for box in ElementTree.parse(path).getroot().iter("bndbox"):
        left, top, right, bottom = (int(float(box.findtext(k) or 0)) for k in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append(FaceBox(left, top, right, bottom, "annotation"))
    return boxes


def evaluate_groups(root: Path, settings: MaskSettings | None = None) -> list[GroupOutcome]:
    settings = settings or MaskSettings()
    return [_group_outcome(root, path, boxes, settings) for path, boxes in group_photos(root)]


def _group_outcome(root: Path, path: Path, annotated: list[FaceBox] | None, settings: MaskSettings) -> GroupOutcome:
    data = path.read_bytes()
    original = np.asarray(decode_image(data).image.convert("RGB"))
    photo = anonymize_photo(data, settings=settings)  # exactly what a release would ship
    with Image.open(io.BytesIO(photo.media.data)) as decoded:
        released = np.asarray(decoded.convert("RGB"))
    result = photo.mask
    subject = FaceBox(*result.subject_box, "subject") if result.subject_box else None
    reference = DetectorSettings(cnn=settings.detectors.cnn)  # the verifier's search, not the masker's
    boxes = detect_faces(released, reference)
    after = _per_family(released, boxes, subject, reference)
    detected, distance = _subject_after(original, released, boxes, subject)
    covered = _annotated_coverage(released, annotated, subject, settings.fill)
    return GroupOutcome(
        path.relative_to(root).as_posix(),
        result.faces_found,
        photo.faces_masked,
        after,
        detected,
        distance,
        *covered,
    )


def _per_family(image: np.ndarray, boxes: list[FaceBox], subject: FaceBox | None, reference: DetectorSettings
                ) -> dict[str, int]:
    """Non-subject faces each detector family finds, its Haar-only texture left out as the verifier does."""
    counts = {}
    for family in _FAMILIES if reference.cnn else ("hog", "haar"):
        clusters = confirmed_faces(image, cluster_faces([b for b in boxes if b.detector.startswith(family)]), reference)
        counts[family] = len([c for c in clusters if subject is None or not _matches(c.members, subject)])
    return counts


def _matches(members: tuple[FaceBox, ...], subject: FaceBox) -> bool:
    return any(same_face(m, subject) or same_face(subject, m) for m in members)


def _subject_after(
    original: np.ndarray, released: np.ndarray, boxes: list[FaceBox], subject: FaceBox | None
) -> tuple[bool, float | None]:
    if subject is None:
        return False, None
    found = [c for c in cluster_faces(boxes) if _matches(c.members, subject)]
    if not found:
        return False, None
    before = face_encodings(original, [subject])[0]
    after = face_encodings(released, [found[0].core])[0]
    return True, round(float(np.linalg.norm(before - after)), 4)


def _annotated_coverage(
    masked: np.ndarray, annotated: list[FaceBox] | None, subject: FaceBox | None, fill: tuple[int, int, int]
) -> tuple[int | None, int | None]:
    if annotated is None:
        return None, None
    bystanders = list(annotated)
    if subject is not None and bystanders:
        bystanders.remove(max(bystanders, key=lambda b: b.iou(subject)))
    covered = 0
    for box in bystanders:
        region = masked[box.top : box.bottom, box.left : box.right]
        near_fill = np.abs(region.astype(np.int16) - np.asarray(fill, dtype=np.int16)) <= 8  # JPEG noise
        painted = np.all(near_fill, axis=-1).mean() if region.size else 0.0
        covered += int(painted >= 0.5)
    return len(bystanders), covered


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    paths = [a for a in args if not a.startswith("--")]
    root = Path(paths[0]) if paths else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    report = evaluate(root, cnn="--cnn" in args)
    print(json.dumps(report.to_dict() if as_json else report.summary(), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
