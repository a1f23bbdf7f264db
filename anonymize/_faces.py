"""Face detection for anonymisation: two independent detector families, run together and merged.

Bystander masking must not hinge on one detector's blind spots, so every image is searched by dlib's HOG
detector (at 2x on the photo at up to 4096 px, so faces down to ~40 px; plus a 4x pass on smaller images for
distant faces) and by OpenCV Haar cascades (frontal and profile, the profile one also on the mirrored image).
Every detection counts: a false positive costs a grey box, a false negative costs a person's privacy. Detections
of the same face by several detectors are merged into one `FaceCluster`.

One exception, measured: a face that only the Haar cascades saw is more often texture than a face. On the camera
and press photos of ../shared/data (exif_samples, face_recognition, dlib group photos) 72 of 73 such clusters were
bark, leaves, cloth, suits, flags, tyres or walls, painted grey in every release. `confirmed_faces` keeps such a
cluster when the middle of its box holds skin-coloured pixels (as shot, or once a colour cast, haze or a dark
exposure is undone), when the photo has no colour to judge by, or when dlib's CNN detector finds a face in a crop
around it. The verifier's search then leaves out 35 of the 72 textures and keeps the real face; on the masked
crowds of rwmfd masking leaves out 10 clusters, all texture. Every masked face that Haar alone finds in rwmfd and
mask_voc stays a face under coloured light (multiplied or added), haze, gamma 0.45-2.2, a fifth of the exposure,
sepia, JPEG quality 10 and 25 px faces (44 faces x 35 conditions, two reviews). What it does drop: a face with no
skin showing at all (a scarf over the mouth and mirrored sunglasses: 1 of 564 photos searched) unless the CNN
finds it.

This module is independent of quality_gates on purpose (anonymize is a pure package of its own). Models load
lazily, once per process, never at import.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from anonymize.errors import ModelUnavailable


@dataclass(frozen=True)
class FaceBox:
    """A detection in image pixel coordinates (right/bottom exclusive), with the detector that found it."""

    left: int
    top: int
    right: int
    bottom: int
    detector: str
    score: float = 0.0

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(self.width, 0) * max(self.height, 0)

    def intersection(self, other: FaceBox) -> int:
        width = min(self.right, other.right) - max(self.left, other.left)
        height = min(self.bottom, other.bottom) - max(self.top, other.top)
        return max(width, 0) * max(height, 0)

    def iou(self, other: FaceBox) -> float:
        """Intersection over union."""
        shared = self.intersection(other)
        union = self.area + other.area - shared
        return shared / union if union else 0.0

    def overlap(self, other: FaceBox) -> float:
        """Intersection over the smaller area: 1.0 when one box holds the other."""
        smaller = min(self.area, other.area)
        return self.intersection(other) / smaller if smaller else 0.0

    def expanded(self, margin: float, width: int, height: int, name: str = "") -> FaceBox:
        """This box grown by `margin` x its size on every side, clipped to a `width` x `height` image."""
        dx, dy = round(self.width * margin), round(self.height * margin)
        return FaceBox(
            max(self.left - dx, 0),
            max(self.top - dy, 0),
            min(self.right + dx, width),
            min(self.bottom + dy, height),
            name or self.detector,
            self.score,
        )

    def as_tuple(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom)."""
        return (self.left, self.top, self.right, self.bottom)

    def css(self) -> tuple[int, int, int, int]:
        """(top, right, bottom, left), the order face_recognition uses."""
        return (self.top, self.right, self.bottom, self.left)


@dataclass(frozen=True)
class FaceCluster:
    """Detections of one face merged across detectors: `box` is their union, `detectors` who saw it."""

    box: FaceBox
    members: tuple[FaceBox, ...]

    @property
    def detectors(self) -> frozenset[str]:
        return frozenset(member.detector.split(":")[0] for member in self.members)

    @property
    def core(self) -> FaceBox:
        """The tightest trustworthy box: the dlib detection when there is one (its boxes are tight and its
        landmarks model was trained on them), else the smallest member."""
        dlib_boxes = [m for m in self.members if m.detector.startswith("hog")]
        return max(dlib_boxes, key=lambda m: m.score) if dlib_boxes else min(self.members, key=lambda m: m.area)


@dataclass(frozen=True)
class DetectorSettings:
    """How hard to look. The defaults are the *reference* search used to verify a release: dlib HOG at its
    usual threshold and OpenCV's own default of 3 neighbours for the Haar cascades. Masking searches harder
    (`MASKING_DETECTORS`), so a face at the edge of detectability is painted rather than left to flip into a
    detection after JPEG compression."""

    # dlib's HOG window is 80 px, so at 2x it resolves faces down to ~40 px of the searched copy. A 12 MP phone
    # photo is searched whole (not reduced to 2000 px, where faces under ~80 px of the original went unseen:
    # measured on 4000 x 3000 scenes with pasted CACD faces, 40 px faces found 2/12 -> 12/12, 3.1 -> 5.6 s per
    # photo). Larger photos are reduced to this side first.
    max_side: int = 4096
    hog_upsample: int = 1
    hog_threshold: float = 0.0
    small_face_upsample: int = 2
    small_face_max_side: int = 1000
    haar_cascades: tuple[str, ...] = ("frontalface_default", "frontalface_alt2", "profileface")
    haar_min_neighbors: int = 3
    haar_scale_factor: float = 1.1
    haar_min_size: int = 20
    # Haar's cost grows with pixels x scales; above this side it searches a reduced copy (a 20 px window there
    # is still a ~30 px face in a 1080p photo, below what dlib's 2x pass resolves anyway).
    haar_max_side: int = 1280
    # dlib's CNN (MMOD) detector: finds turned and partly covered faces HOG misses, but costs seconds per photo
    # on a CPU, so it is opt-in (thorough verification), not part of the default masking pass.
    cnn: bool = False
    cnn_upsample: int = 1
    # The CNN's memory grows with the pixels it searches (measured: 2.9 GB for 1000 x 750 at 1x upsampling), so
    # it searches a copy reduced to this side whatever `max_side` says.
    cnn_max_side: int = 1000
    merge_iou: float = 0.25
    # `confirmed_faces`: a cluster only the Haar cascades saw counts as a face when at least this share of the
    # middle of its box is skin-coloured (or the photo is colourless, or the CNN confirms it). 0 keeps them all.
    haar_only_skin_share: float = 0.1


# Hysteresis: masking accepts weaker evidence than verification does.
MASKING_DETECTORS = DetectorSettings(hog_threshold=-0.2, haar_only_skin_share=0.05)


def detect_faces(rgb: np.ndarray, settings: DetectorSettings | None = None) -> list[FaceBox]:
    """Every detection of every detector on the HxWx3 uint8 RGB array, in its pixel coordinates."""
    settings = settings or DetectorSettings()
    height, width = rgb.shape[:2]
    found: list[FaceBox] = []
    runs = [(_hog, settings.max_side), (_haar, settings.haar_max_side)]
    if settings.cnn:
        runs.append((_cnn, min(settings.max_side, settings.cnn_max_side)))
    for run, max_side in runs:
        working, scale = _working_copy(rgb, max_side)
        found.extend(_rescale(box, scale, width, height) for box in run(working, settings))
    return found


def detect_faces_near(rgb: np.ndarray, regions: Sequence[FaceBox], settings: DetectorSettings | None = None
                      ) -> list[FaceBox]:
    """Detections within `regions` of the HxWx3 uint8 RGB array, in its pixel coordinates, each detector
    searching at the working scale (and with the small-face pass) a whole-image `detect_faces` would use. The
    Haar cascades equalise each region's histogram on its own (a whole search equalises the whole image's), so
    their weakest detections can differ from a whole search's.

    For re-checking an image after painting: painting changes pixels only inside the painted boxes, so a face
    that was not detectable before can only appear where a search window overlaps one. Overlapping regions are
    merged and each is searched once; a face must lie inside a region to be found.
    """
    settings = settings or DetectorSettings()
    height, width = rgb.shape[:2]
    side = max(height, width)
    found: list[FaceBox] = []
    for region in _merged(regions):
        crop = np.ascontiguousarray(rgb[region.top : region.bottom, region.left : region.right])
        crop_side = max(crop.shape[:2])
        if crop.size == 0:
            continue
        local = replace(
            settings,
            max_side=max(1, int(crop_side * min(1.0, settings.max_side / side))),
            haar_max_side=max(1, int(crop_side * min(1.0, settings.haar_max_side / side))),
            cnn_max_side=max(1, int(crop_side * min(1.0, min(settings.max_side, settings.cnn_max_side) / side))),
            small_face_max_side=crop_side if side <= settings.small_face_max_side else 0,
        )
        for box in detect_faces(crop, local):
            found.append(FaceBox(box.left + region.left, box.top + region.top, box.right + region.left,
                                 box.bottom + region.top, box.detector, box.score))
    return found


def _merged(regions: Sequence[FaceBox]) -> list[FaceBox]:
    """The regions with every overlapping pair replaced by their bounding box, until none overlap."""
    merged = list(regions)
    changed = True
    while changed:
        changed = False
        for i, j in itertools.combinations(range(len(merged)), 2):
            if merged[i].intersection(merged[j]):
                merged[i] = _union([merged[i], merged[j]])
                del merged[j]
                changed = True
                break
    return merged


def confirmed_faces(rgb: np.ndarray, clusters: Sequence[FaceCluster], settings: DetectorSettings | None = None
                    ) -> list[FaceCluster]:
    """`clusters` (found in the HxWx3 uint8 RGB array) without those only the Haar cascades saw that look like
    texture: too few skin-coloured pixels in the middle of the box, as shot or once the photo's colour cast,
    haze and exposure are corrected, and no face there for dlib's CNN detector. A photo without colour evidence
    (black and white, infrared, nearly black) keeps every detection; so does a CNN that cannot run (a false
    positive costs only a grey box). Raises ValueError for anything but an HxWx3 array."""
    settings = settings or DetectorSettings()
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB array, got shape {rgb.shape}")
    if settings.haar_only_skin_share <= 0 or not any(c.detectors == {"haar"} for c in clusters):
        return list(clusters)
    corrections = _colour_corrections(rgb)
    if corrections is None:
        return list(clusters)
    return [c for c in clusters if c.detectors != {"haar"}
            or _skin_share(rgb, c.box, corrections) >= settings.haar_only_skin_share or _cnn_confirms(rgb, c.box)]


# Skin in YCrCb (Chai and Ngan's ranges), dark pixels excluded.
_SKIN_CR, _SKIN_CB, _SKIN_MIN_Y = (133, 173), (77, 127), 30
# No colour evidence: mean chroma of the photo's coloured pixels below this, or their median luma below the next.
_COLOURLESS_CHROMA, _TOO_DARK_LUMA = 3.0, 40.0
# Corrections (each tried as well as the photo as shot):
# - grey world when the channel gains differ by more than _CAST_RATIO (a coloured light multiplying the scene),
#   with a photo whose mean luma is under _DIM_LUMA brightened towards _TARGET_LUMA; at most _MAX_GAIN in all;
# - levels: each channel stretched from its 1st to its 99th percentile (coloured light or haze added to the
#   scene), then a gamma bringing the mean luma to _TARGET_LUMA (a photo darkened or lightened in its midtones).
_CAST_RATIO, _DIM_LUMA, _TARGET_LUMA, _MAX_GAIN = 1.3, 80.0, 110.0, 4.0
_CNN_CONFIRM_SIDE = 120  # the candidate box is scaled to this side; the CNN's window is 80 px at no upsampling
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _colour_corrections(rgb: np.ndarray) -> list[np.ndarray] | None:
    """Lookup tables (256 x 3, uint8) that undo the photo's colour cast, haze or exposure in different ways, or
    None when the photo has no colour to judge skin by. Pixels without chroma are left out, so the grey paint of
    masked faces does not change the answer between masking rounds."""
    import cv2

    small, _ = _working_copy(rgb, 256)
    pixels = small.reshape(-1, 3).astype(np.float32)
    chroma = np.abs(cv2.cvtColor(small, cv2.COLOR_RGB2YCrCb).reshape(-1, 3)[:, 1:].astype(np.float32) - 128.0).sum(1)
    coloured = chroma > 0
    if coloured.sum() < 0.01 * len(pixels) or float(chroma[coloured].mean()) < _COLOURLESS_CHROMA:
        return None
    pixels = pixels[coloured]
    if float(np.median(pixels @ _LUMA)) < _TOO_DARK_LUMA:
        return None
    values = np.arange(256, dtype=np.float32)[:, None]
    tables = []
    means = pixels.mean(axis=0) + 1e-3
    gains = np.clip(means.mean() / means, 1 / _MAX_GAIN, _MAX_GAIN)
    if gains.max() / gains.min() < _CAST_RATIO:  # no marked cast: correcting would only make textures skin-like
        gains = np.ones(3, dtype=np.float32)
    luma = float(((pixels * gains) @ _LUMA).mean())
    gains = gains * (_TARGET_LUMA / max(luma, 1.0) if luma < _DIM_LUMA else 1.0)
    if not np.allclose(gains, 1.0):
        tables.append(values * np.minimum(gains, _MAX_GAIN))
    low, high = np.percentile(pixels, 1, axis=0), np.percentile(pixels, 99, axis=0)
    if (high - low).min() >= 16:
        stretched = np.clip((pixels - low) / (high - low), 0.0, 1.0)
        mean = float(np.clip((stretched @ _LUMA).mean(), 0.02, 0.98))
        gamma = float(np.clip(np.log(_TARGET_LUMA / 255.0) / np.log(mean), 0.4, 2.5))
        tables.append(255.0 * np.clip((values - low) / (high - low), 0.0, 1.0) ** gamma)
    return [np.clip(np.rint(table), 0, 255).astype(np.uint8) for table in tables]


def _skin_share(rgb: np.ndarray, box: FaceBox, corrections: Sequence[np.ndarray] = ()) -> float:
    """Share of skin-coloured pixels in the middle 60% of `box` (where a face shows skin around the eyes even
    above a mask): the largest of the share as shot and once each of `corrections` is applied."""
    inset_x, inset_y = (box.right - box.left) // 5, (box.bottom - box.top) // 5
    middle = rgb[box.top + inset_y : box.bottom - inset_y, box.left + inset_x : box.right - inset_x]
    if middle.size == 0:
        return 0.0
    shares = [_skin(middle)]
    for table in corrections:
        shares.append(_skin(np.stack([table[:, c][middle[..., c]] for c in range(3)], axis=-1)))
    return max(shares)


def _skin(pixels: np.ndarray) -> float:
    import cv2

    ycc = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2YCrCb).reshape(-1, 3)
    y, cr, cb = ycc[:, 0], ycc[:, 1], ycc[:, 2]
    skin = (cr >= _SKIN_CR[0]) & (cr <= _SKIN_CR[1]) & (cb >= _SKIN_CB[0]) & (cb <= _SKIN_CB[1]) & (y >= _SKIN_MIN_Y)
    return float(skin.mean())


def _cnn_confirms(rgb: np.ndarray, box: FaceBox) -> bool:
    """Whether dlib's CNN finds a face centred inside `box`, searching a crop of 2.2x its side around it (True
    when it cannot tell: no model, an empty box, a crop it cannot search)."""
    import cv2

    height, width = rgb.shape[:2]
    around = box.expanded(0.6, width, height)
    crop = rgb[around.top : around.bottom, around.left : around.right]
    if box.right <= box.left or box.bottom <= box.top or crop.size == 0:
        return True
    scale = _CNN_CONFIRM_SIDE / max(box.right - box.left, box.bottom - box.top)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    try:
        found_all = _cnn_detector()(np.ascontiguousarray(crop), 0)
    except (ModelUnavailable, RuntimeError):
        return True
    for found in found_all:
        rect = found.rect
        x = around.left + (rect.left() + rect.right()) / 2 / scale
        y = around.top + (rect.top() + rect.bottom()) / 2 / scale
        if box.left <= x <= box.right and box.top <= y <= box.bottom:
            return True
    return False


def cluster_faces(boxes: Iterable[FaceBox], merge_iou: float = 0.25) -> list[FaceCluster]:
    """Group detections of the same face, largest face first.

    Each cluster is seeded by its most trusted detection (dlib before Haar, then by score and size); a box joins
    a cluster only if its centre lies inside the seed and it overlaps the seed (IoU >= `merge_iou`, or mostly
    contained). Comparing with the seed, not with any member, stops neighbouring faces chaining into one
    cluster - a merged bystander would be kept as the subject.
    """
    groups: list[list[FaceBox]] = []
    for box in sorted(boxes, key=_trust, reverse=True):
        for group in groups:
            if same_face(box, group[0], merge_iou):
                group.append(box)
                break
        else:
            groups.append([box])
    clusters = [FaceCluster(_union(group), tuple(group)) for group in groups]
    return sorted(clusters, key=lambda c: -c.core.area)


def same_face(box: FaceBox, seed: FaceBox, merge_iou: float = 0.25) -> bool:
    """Whether `box` is another detection of the face found at `seed`."""
    centre_x, centre_y = (box.left + box.right) / 2, (box.top + box.bottom) / 2
    if not (seed.left <= centre_x < seed.right and seed.top <= centre_y < seed.bottom):
        return False
    return box.iou(seed) >= merge_iou or box.overlap(seed) >= 0.7


def _trust(box: FaceBox) -> tuple[bool, float, int]:
    return box.detector.startswith(("hog", "cnn")), box.score, box.area


def face_encodings(rgb: np.ndarray, boxes: Sequence[FaceBox]) -> list[np.ndarray]:
    """128-d dlib encodings of the faces at `boxes` (face_recognition's model). Raises `ModelUnavailable`."""
    if not boxes:
        return []
    recognition = _face_recognition()
    return list(recognition.face_encodings(np.ascontiguousarray(rgb), [b.css() for b in boxes]))


def _working_copy(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    import cv2

    height, width = rgb.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale >= 1.0:
        return np.ascontiguousarray(rgb), 1.0
    size = (max(round(width * scale), 1), max(round(height * scale), 1))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale


def _rescale(box: FaceBox, scale: float, width: int, height: int) -> FaceBox:
    def clip(value: float, limit: int) -> int:
        return int(min(max(round(value / scale), 0), limit))

    return FaceBox(
        clip(box.left, width),
        clip(box.top, height),
        clip(box.right, width),
        clip(box.bottom, height),
        box.detector,
        box.score,
    )


def _hog(rgb: np.ndarray, settings: DetectorSettings) -> Iterable[FaceBox]:
    detector = _dlib_detector()
    passes = [settings.hog_upsample]
    if max(rgb.shape[:2]) <= settings.small_face_max_side and settings.small_face_upsample > settings.hog_upsample:
        passes.append(settings.small_face_upsample)
    for upsample in passes:
        rects, scores, _ = detector.run(rgb, upsample, settings.hog_threshold)
        for rect, score in zip(rects, scores, strict=True):
            yield FaceBox(rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1, f"hog:{upsample}", score)


def _haar(rgb: np.ndarray, settings: DetectorSettings) -> Iterable[FaceBox]:
    import cv2

    gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    width = gray.shape[1]
    for name in settings.haar_cascades:
        cascade = _cascade(name)
        views = [(gray, False), (cv2.flip(gray, 1), True)] if name.startswith("profile") else [(gray, False)]
        for view, mirrored in views:
            found = cascade.detectMultiScale(
                view,
                scaleFactor=settings.haar_scale_factor,
                minNeighbors=settings.haar_min_neighbors,
                minSize=(settings.haar_min_size, settings.haar_min_size),
            )
            for x, y, w, h in np.asarray(found).reshape(-1, 4).tolist():
                left = width - x - w if mirrored else x
                yield FaceBox(left, y, left + w, y + h, f"haar:{name}")


def _cnn(rgb: np.ndarray, settings: DetectorSettings) -> Iterable[FaceBox]:
    for found in _cnn_detector()(rgb, settings.cnn_upsample):
        rect = found.rect
        yield FaceBox(rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1, "cnn", float(found.confidence))


def _union(boxes: Sequence[FaceBox]) -> FaceBox:
    return FaceBox(
        min(b.left for b in boxes),
        min(b.top for b in boxes),
        max(b.right for b in boxes),
        max(b.bottom for b in boxes),
        "+".join(sorted({b.detector for b in boxes})),
        max(b.score for b in boxes),
    )


@functools.cache
def _dlib_detector() -> Any:  # dlib ships no type information
    try:
        import dlib
    except ImportError as exc:  # pragma: no cover - dlib is a hard dependency
        raise ModelUnavailable("dlib HOG detector", str(exc)) from exc
    return dlib.get_frontal_face_detector()


@functools.cache
def _cnn_detector() -> Any:
    try:
        import dlib
        import face_recognition_models

        return dlib.cnn_face_detection_model_v1(face_recognition_models.cnn_face_detector_model_location())
    except (ImportError, RuntimeError) as exc:
        raise ModelUnavailable("dlib CNN face detector", str(exc)) from exc


@functools.cache
def _cascade(name: str) -> Any:  # cv2 stubs vary between releases
    import cv2

    path = f"{cv2.data.haarcascades}haarcascade_{name}.xml"  # type: ignore[attr-defined]
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise ModelUnavailable(f"Haar cascade {name}", f"could not load {path}")
    return cascade


@functools.cache
def _face_recognition() -> Any:
    try:
        import face_recognition
    except (ImportError, SystemExit) as exc:  # face_recognition exits when its models package is missing
        raise ModelUnavailable("face_recognition", str(exc)) from exc
    return face_recognition
