"""Bystander masking: cover every face except the contributor's with a solid fill and a generous margin.

Policy (STANDARDS, anonymisation): blur and pixelation are not anonymisation against machines, so faces are
painted over with one flat colour, well beyond the detected box (hair, ears and chin are identifying too). The
contributor's face is the one matching their own encoding when one is given, otherwise the single dominant face
of the photo; with no match nothing is kept. After painting, the painted areas and their surroundings (the only
place where painting can make a face detectable to dlib) are searched again and anything found is painted too,
until that search finds nothing but the subject (or the round limit is hit); `MaskResult.clean` reports that
local search. The Haar cascades equalise the whole image's histogram, so a large painted box can in principle
tip a Haar detection anywhere: `anonymize_photo` therefore searches the whole encoded file again, and its
`clean` (what a release relies on) comes from that search. The subject's face itself is never painted over, so
their encoding is preserved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from anonymize._faces import (
    MASKING_DETECTORS,
    DetectorSettings,
    FaceBox,
    FaceCluster,
    cluster_faces,
    confirmed_faces,
    detect_faces,
    detect_faces_near,
    face_encodings,
    same_face,
)

Box = tuple[int, int, int, int]

_CORE_MARGIN = 0.08
_RECHECK_REACH = 1.0  # around each painted box, its own size again on every side


@dataclass(frozen=True)
class _Subject:
    """The kept face: its tight detection (`core`, never painted) and the area around it (`protected`) that
    bystander margins yield to."""

    cluster: FaceCluster
    protected: FaceBox

    @property
    def core(self) -> FaceBox:
        return self.cluster.core


@dataclass(frozen=True)
class MaskSettings:
    """Masking policy knobs; the defaults are the release policy."""

    margin: float = 0.35
    fill: tuple[int, int, int] = (128, 128, 128)
    subject_tolerance: float = 0.6
    subject_protect_margin: float = 0.25
    max_rounds: int = 4
    detectors: DetectorSettings = MASKING_DETECTORS


@dataclass(frozen=True)
class MaskResult:
    """The masked image (a new array), the painted boxes (left, top, right, bottom), the kept subject's face
    box or None, the subject's encoding distance when an encoding was given, whether the last search found no
    face other than the subject (`clean`), and how many faces the first search found (`faces_found`)."""

    image: np.ndarray
    masked_boxes: tuple[Box, ...]
    subject_box: Box | None
    subject_distance: float | None = None
    rounds: int = 0
    clean: bool = True
    faces_found: int = 0


def mask_bystanders(
    rgb: np.ndarray,
    subject_encoding: np.ndarray | Sequence[float] | None = None,
    *,
    keep_subject: bool = True,
    settings: MaskSettings | None = None,
) -> MaskResult:
    """Paint over every face in the HxWx3 uint8 RGB array except the contributor's.

    With `subject_encoding` (a 128-d face_recognition encoding of the contributor) the kept face is the closest
    one within `settings.subject_tolerance`; without it, the dominant face. `keep_subject=False` paints every
    face. Raises `ModelUnavailable` when a detector cannot load.
    """
    settings = settings or MaskSettings()
    image = _rgb_copy(rgb)
    clusters = _found(image, detect_faces(image, settings.detectors), settings.detectors)
    chosen, distance = _choose_subject(image, clusters, subject_encoding, keep_subject, settings)
    subject = _subject(chosen, image, settings)
    masked: list[Box] = []
    targets = [c for c in clusters if c is not chosen]
    rounds = 0
    while targets and rounds < settings.max_rounds:
        painted = _paint(image, targets, subject, settings)
        masked.extend(painted)
        rounds += 1
        targets = _remaining(image, painted, subject, settings)
    subject_box = subject.core.as_tuple() if subject else None
    return MaskResult(image, tuple(masked), subject_box, distance, rounds, not targets, len(clusters))


def faces_other_than(
    rgb: np.ndarray, subject_box: Box | None, settings: DetectorSettings | None = None
) -> list[FaceCluster]:
    """Face clusters detectable in `rgb` that are not the face at `subject_box` (all of them when None)."""
    settings = settings or DetectorSettings()
    clusters = _found(rgb, detect_faces(rgb, settings), settings)
    return _others(clusters, FaceBox(*subject_box, "subject") if subject_box is not None else None)


def mask_remaining(
    found_in: np.ndarray, paint_on: np.ndarray, subject_box: Box | None, settings: MaskSettings | None = None
) -> list[Box]:
    """Paint onto `paint_on` (in place) every face detectable in `found_in` other than the one at
    `subject_box`; returns the painted boxes. Used on the decoded output file, where compression can in
    principle bring back a detection; both arrays have the same size."""
    settings = settings or MaskSettings()
    targets = faces_other_than(found_in, subject_box, settings.detectors)
    if not targets:
        return []
    subject = None
    if subject_box is not None:
        box = FaceBox(*subject_box, "subject")
        subject = _subject(FaceCluster(box, (box,)), paint_on, settings)
    return _paint(paint_on, targets, subject, settings)


def _found(rgb: np.ndarray, boxes: list[FaceBox], settings: DetectorSettings) -> list[FaceCluster]:
    """The faces behind `boxes`: merged per face, Haar-only texture left out (`confirmed_faces`)."""
    return confirmed_faces(rgb, cluster_faces(boxes, settings.merge_iou), settings)


def _others(clusters: list[FaceCluster], subject_core: FaceBox | None) -> list[FaceCluster]:
    """The clusters that are not the subject's face (all of them without a subject)."""
    if subject_core is None:
        return clusters
    return [c for c in clusters if not _is_subject(c, subject_core)]


def _is_subject(cluster: FaceCluster, subject_core: FaceBox) -> bool:
    return any(same_face(member, subject_core) or same_face(subject_core, member) for member in cluster.members)


def _rgb_copy(rgb: np.ndarray) -> np.ndarray:
    array = np.asarray(rgb)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB array, got {array.shape} {array.dtype}")
    return np.array(array, copy=True, order="C")


def _choose_subject(
    image: np.ndarray,
    clusters: list[FaceCluster],
    encoding: np.ndarray | Sequence[float] | None,
    keep_subject: bool,
    settings: MaskSettings,
) -> tuple[FaceCluster | None, float | None]:
    if not keep_subject or not clusters:
        return None, None
    if encoding is None:
        return _dominant(clusters), None
    known = np.asarray(encoding, dtype=np.float64)
    candidates = face_encodings(image, [c.core for c in clusters])
    distances = [float(np.linalg.norm(candidate - known)) for candidate in candidates]
    best = int(np.argmin(distances))
    if distances[best] > settings.subject_tolerance:
        return None, distances[best]
    return clusters[best], distances[best]


def _dominant(clusters: list[FaceCluster]) -> FaceCluster:
    # A face seen by several detectors (or by dlib, whose false positives are rare) outranks a larger box seen
    # by one Haar cascade only, which is more often texture than a face.
    def rank(cluster: FaceCluster) -> tuple[bool, int]:
        confirmed = "hog" in cluster.detectors or len(cluster.detectors) >= 2
        return confirmed, cluster.core.area

    return max(clusters, key=rank)


def _subject(chosen: FaceCluster | None, image: np.ndarray, settings: MaskSettings) -> _Subject | None:
    if chosen is None:
        return None
    height, width = image.shape[:2]
    return _Subject(chosen, chosen.core.expanded(settings.subject_protect_margin, width, height, "subject"))


def _paint(
    image: np.ndarray, targets: list[FaceCluster], subject: _Subject | None, settings: MaskSettings
) -> list[Box]:
    """Fill each target's box plus margin. Layering decides conflicts with the kept face: the margin yields to
    the subject's protected area, a bystander's own face box does not, and the subject's tight face box is
    never painted."""
    height, width = image.shape[:2]
    saved = [(box, _crop(image, box).copy()) for box in (subject.protected, subject.core)] if subject else []
    painted: list[Box] = []
    for cluster in targets:
        box = cluster.box.expanded(settings.margin, width, height)
        _fill(image, box, settings.fill)
        painted.append(box.as_tuple())
    if saved and subject is not None:
        _restore(image, saved[0])
        cores = [cluster.core.expanded(_CORE_MARGIN, width, height) for cluster in targets]
        for core in cores:
            _fill(image, core, settings.fill)
        _restore(image, saved[1])
        for core in cores:
            _fill_nearer(image, core, subject.core, settings.fill)
    return painted


def _crop(image: np.ndarray, box: FaceBox) -> np.ndarray:
    return image[box.top : box.bottom, box.left : box.right]


def _fill(image: np.ndarray, box: FaceBox, colour: tuple[int, int, int]) -> None:
    image[box.top : box.bottom, box.left : box.right] = colour


def _fill_nearer(image: np.ndarray, bystander: FaceBox, subject: FaceBox, colour: tuple[int, int, int]) -> None:
    """Where a bystander's face box overlaps the subject's, paint the pixels nearer the bystander's centre:
    each face keeps what is closer to it, so neither wins the shared strip outright."""
    left, right = max(bystander.left, subject.left), min(bystander.right, subject.right)
    top, bottom = max(bystander.top, subject.top), min(bystander.bottom, subject.bottom)
    if left >= right or top >= bottom:
        return
    ys, xs = np.mgrid[top:bottom, left:right]
    to_bystander = (xs - (bystander.left + bystander.right) / 2) ** 2 + (
        ys - (bystander.top + bystander.bottom) / 2
    ) ** 2
    to_subject = (xs - (subject.left + subject.right) / 2) ** 2 + (ys - (subject.top + subject.bottom) / 2) ** 2
    image[top:bottom, left:right][to_bystander < to_subject] = colour


def _restore(image: np.ndarray, saved: tuple[FaceBox, np.ndarray]) -> None:
    box, pixels = saved
    image[box.top : box.bottom, box.left : box.right] = pixels


def _remaining(
    image: np.ndarray, painted: Sequence[Box], subject: _Subject | None, settings: MaskSettings
) -> list[FaceCluster]:
    """Faces detectable after a round of painting, searched around the painted boxes (as much again on every
    side): a window that does not overlap the paint sees the same pixels as before. Haar equalises each region
    on its own histogram, not the whole image's, so this is not exact for Haar; `anonymize_photo`'s search of
    the whole encoded file, and the release verifier, are."""
    height, width = image.shape[:2]
    regions = [FaceBox(*box, "painted").expanded(_RECHECK_REACH, width, height) for box in painted]
    clusters = _found(image, detect_faces_near(image, regions, settings.detectors), settings.detectors)
    return _others(clusters, subject.core if subject else None)
