"""The photo gates and `check_photo`, which runs them on one image.

Order: decode -> face_found -> (face_size, pose, occlusion, sharpness, exposure on the dominant face). When no
usable face is found the face gates do not run: the photo fails `face_found`, which is never read as "fine".
Faces are analysed at the decoded (possibly reduced) resolution and reported in original pixels. The dominant
face goes through the face-recognition network at most once: when the occlusion gate's measurements are unsure
(it then reads the network's region descriptors) or for the identity gate when no gate failed. Its 128-d
encoding is kept on the report only when no gate failed. The duplicate gate is separate (`check_duplicate`)
because it needs the hashes of other photos, which the caller holds.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from quality_gates._decode import DecodedImage, decode_image
from quality_gates._faces import FaceAnalyzer, default_analyzer
from quality_gates._hash import hamming, perceptual_hash
from quality_gates._occlusion import OcclusionScores, align_face, measure, score_occlusion
from quality_gates._pose import estimate_pose
from quality_gates._quality import exposure, sharpness
from quality_gates._report import FaceInfo, GateResult, PhotoReport, Verdict, combine_verdicts
from quality_gates._resnet import FaceAppearance
from quality_gates._rules import DEFAULT_RULES, PhotoRules
from quality_gates.errors import ImageDecodeError

# The dominant face's appearance (encoding and region descriptors), computed on the first call only.
_LazyAppearance = Callable[[], FaceAppearance | None]


@dataclass(frozen=True)
class _Context:
    image: DecodedImage
    face: FaceInfo  # dominant face in decoded-pixel coordinates
    rules: PhotoRules
    appearance: _LazyAppearance


def check_photo(
    image: bytes | DecodedImage | np.ndarray,
    rules: PhotoRules = DEFAULT_RULES,
    analyzer: FaceAnalyzer | None = None,
) -> PhotoReport:
    """Run every photo gate named in `rules.gates` on one image (bytes are decoded safely first).

    Undecodable bytes give a report with a failed `decode` gate; nothing is raised for bad input.
    """
    if isinstance(image, bytes | bytearray | memoryview):
        try:
            image = decode_image(bytes(image), rules)
        except ImageDecodeError as exc:
            return PhotoReport.from_gates((decode_failure(exc),))
    if isinstance(image, np.ndarray):
        image = from_array(image)
    return _check_decoded(image, rules, analyzer or default_analyzer())


def decode_failure(exc: ImageDecodeError) -> GateResult:
    """The failed `decode` gate for an error raised by `decode_image`."""
    measured: dict[str, object] = {"error": exc.code}
    for attr in ("what", "value", "detected"):
        if hasattr(exc, attr):
            measured[attr] = getattr(exc, attr)
    threshold: dict[str, object] = {"limit": exc.limit} if hasattr(exc, "limit") else {}
    return GateResult.fail("decode", exc.code, measured, threshold)


def from_array(pixels: np.ndarray) -> DecodedImage:
    """Wrap an RGB (or grey) uint8 array as a decoded image at scale 1."""
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    pixels = np.ascontiguousarray(pixels[:, :, :3].astype(np.uint8, copy=False))
    return DecodedImage(pixels, "array", (pixels.shape[1], pixels.shape[0]))


def _check_decoded(image: DecodedImage, rules: PhotoRules, analyzer: FaceAnalyzer) -> PhotoReport:
    faces = analyzer.analyze(image.pixels, encode=False)
    gates = [GateResult.ok("decode", {"format": image.format, "width": image.original_size[0],
                                      "height": image.original_size[1]})]
    found = face_found_gate(faces, rules)
    gates.append(found)
    appearance = functools.cache(functools.partial(analyzer.appearance, image.pixels, faces[0])) if faces else None
    if found.passed and appearance is not None:
        ctx = _Context(image, faces[0], rules, appearance)
        gates.extend(gate(ctx) for name, gate in _FACE_GATES.items() if name in rules.gates)
    faces = _keep_encoding(faces, gates, appearance)
    return PhotoReport.from_gates(
        tuple(gates), faces=tuple(to_original(f, image.scale) for f in faces),
        width=image.original_size[0], height=image.original_size[1], format=image.format,
        captured_at=image.captured_at, phash=perceptual_hash(image.pixels),
    )


def _keep_encoding(faces: list[FaceInfo], gates: list[GateResult],
                   appearance: _LazyAppearance | None) -> list[FaceInfo]:
    """The dominant face carries its encoding only when no gate failed (computed now if the occlusion gate did
    not already need the network).

    The 128-d encoding is biometric data; a rejected photo never reaches the identity gate, so it keeps none, and
    bystanders are never encoded at all.
    """
    if not faces or appearance is None or combine_verdicts(gates) is Verdict.FAIL:
        return faces
    seen = appearance()
    return [dataclasses.replace(faces[0], encoding=None if seen is None else seen.encoding), *faces[1:]]


def to_original(face: FaceInfo, scale: float) -> FaceInfo:
    """The face in original pixel coordinates (the analyzer saw a copy `scale` times smaller)."""
    if scale == 1.0:
        return face
    box = tuple(round(v * scale) for v in face.box)
    points = tuple((x * scale, y * scale) for x, y in face.landmarks)
    return FaceInfo((box[0], box[1], box[2], box[3]), points, face.encoding, face.detector, face.score)


def face_found_gate(faces: list[FaceInfo], rules: PhotoRules) -> GateResult:
    """Exactly one dominant face: others must be clearly smaller (they are reported, and masked on release)."""
    threshold = {"max_other_face_ratio": rules.max_other_face_ratio}
    if not faces:
        return GateResult.fail("face_found", "no_face", {"faces": 0}, threshold)
    ratio = faces[1].side / max(faces[0].side, 1.0) if len(faces) > 1 else 0.0
    measured = {"faces": len(faces), "other_face_ratio": ratio, "detector": faces[0].detector}
    if ratio > rules.max_other_face_ratio:
        return GateResult.fail("face_found", "multiple_faces", measured, threshold)
    if len(faces[0].landmarks) != 68:
        return GateResult.needs_review("face_found", "no_landmarks", measured, threshold)
    return GateResult.ok("face_found", measured, threshold)


# face_size: a face too small in pixels whose side is at least this share of the picture's shorter side is a
# low-resolution picture, not a face photographed from too far.
LOW_RESOLUTION_FACE_FRACTION = 0.35


def face_size_gate(ctx: _Context) -> GateResult:
    rules, scale = ctx.rules, ctx.image.scale
    side = ctx.face.side * scale
    eye = (ctx.face.inter_eye_px or 0.0) * scale
    fraction = side / max(min(ctx.image.original_size), 1)
    measured = {"face_side_px": side, "inter_eye_px": eye, "face_side_fraction": fraction}
    threshold = {"min_face_side_px": rules.min_face_side_px, "min_inter_eye_px": rules.min_inter_eye_px,
                 "min_face_side_fraction": rules.min_face_side_fraction}
    if side < rules.min_face_side_px or eye < rules.min_inter_eye_px:
        # A face that already fills much of a small picture (a thumbnail, a screenshot, a webcam still) is not
        # helped by coming closer or cropping less: the picture itself has too few pixels.
        reason = "low_resolution" if fraction >= LOW_RESOLUTION_FACE_FRACTION else "too_small"
        return GateResult.fail("face_size", reason, measured, threshold)
    if fraction < rules.min_face_side_fraction:
        return GateResult.fail("face_size", "too_small_in_frame", measured, threshold)
    return GateResult.ok("face_size", measured, threshold)


def pose_gate(ctx: _Context) -> GateResult:
    rules = ctx.rules
    threshold = {"max_yaw_deg": rules.max_yaw_deg, "max_pitch_deg": rules.max_pitch_deg,
                 "max_roll_deg": rules.max_roll_deg}
    pose = estimate_pose(ctx.face.landmarks, (ctx.image.width, ctx.image.height))
    if pose is None:
        return GateResult.needs_review("pose", "unmeasurable", {}, threshold)
    measured = {"yaw_deg": pose.yaw, "pitch_deg": pose.pitch, "roll_deg": pose.roll}
    for reason, value, limit in (("yaw", pose.yaw, rules.max_yaw_deg), ("pitch", pose.pitch, rules.max_pitch_deg),
                                 ("roll", pose.roll, rules.max_roll_deg)):
        if abs(value) > limit:
            return GateResult.fail("pose", reason, measured, threshold)
    return GateResult.ok("pose", measured, threshold)


def occlusion_gate(ctx: _Context) -> GateResult:
    """Eyes and nose/mouth covers; between review and fail thresholds a human decides."""
    rules = ctx.rules
    features = measure(ctx.image.pixels, ctx.face)
    threshold = {"eye_cover_fail": rules.eye_cover_fail, "mouth_cover_fail": rules.mouth_cover_fail,
                 "eye_cover_review": rules.occlusion_review_line(rules.eye_cover_fail),
                 "mouth_cover_review": rules.occlusion_review_line(rules.mouth_cover_fail)}
    if features is None:
        return GateResult.needs_review("occlusion", "unmeasurable", {}, threshold)
    scores = score_occlusion(features, ctx.appearance)
    return occlusion_verdict(scores, rules, threshold)


def occlusion_verdict(scores: OcclusionScores, rules: PhotoRules, threshold: Mapping[str, float]) -> GateResult:
    measured = {"eye_cover": scores.eyes, "mouth_cover": scores.mouth, "hog_missed": scores.hog_missed,
                "appearance": scores.appearance}
    if scores.mouth >= rules.mouth_cover_fail:
        return GateResult.fail("occlusion", "mouth_covered", measured, threshold)
    if scores.eyes >= rules.eye_cover_fail:
        return GateResult.fail("occlusion", "eyes_covered", measured, threshold)
    if (scores.mouth >= rules.occlusion_review_line(rules.mouth_cover_fail)
            or scores.eyes >= rules.occlusion_review_line(rules.eye_cover_fail)):
        return GateResult.needs_review("occlusion", "possibly_covered", measured, threshold)
    return GateResult.ok("occlusion", measured, threshold)


def sharpness_gate(ctx: _Context) -> GateResult:
    threshold = {"min_sharpness": ctx.rules.min_sharpness}
    if len(ctx.face.landmarks) != 68:
        return GateResult.needs_review("sharpness", "unmeasurable", {}, threshold)
    value = sharpness(align_face(ctx.image.pixels, ctx.face).gray)
    measured = {"sharpness": value}
    if value < ctx.rules.min_sharpness:
        return GateResult.fail("sharpness", "blurry", measured, threshold)
    return GateResult.ok("sharpness", measured, threshold)


def exposure_gate(ctx: _Context) -> GateResult:
    rules = ctx.rules
    stats = exposure(ctx.image.pixels, ctx.face)
    measured = {"mean_luma": stats.mean_luma, "dark_fraction": stats.dark_fraction,
                "bright_fraction": stats.bright_fraction}
    threshold = {"min_face_luma": rules.min_face_luma, "max_face_luma": rules.max_face_luma,
                 "max_clipped_fraction": rules.max_clipped_fraction}
    if stats.mean_luma < rules.min_face_luma or stats.dark_fraction > rules.max_clipped_fraction:
        return GateResult.fail("exposure", "too_dark", measured, threshold)
    if stats.mean_luma > rules.max_face_luma or stats.bright_fraction > rules.max_clipped_fraction:
        return GateResult.fail("exposure", "too_bright", measured, threshold)
    return GateResult.ok("exposure", measured, threshold)


_FACE_GATES: dict[str, Callable[[_Context], GateResult]] = {
    "face_size": face_size_gate,
    "pose": pose_gate,
    "occlusion": occlusion_gate,
    "sharpness": sharpness_gate,
    "exposure": exposure_gate,
}


def check_duplicate(
    phash: int,
    known: Mapping[str, int] | Iterable[int],
    rules: PhotoRules = DEFAULT_RULES,
) -> GateResult:
    """Compare a photo's hash with hashes of the set or of other contributors (`known`: id -> hash, or hashes).

    Within `duplicate_hamming_fail` bits it is the same photo (fail); up to `duplicate_hamming_review` it is
    near-identical (review). The matching id is reported when `known` is a mapping.
    """
    items = list(known.items()) if isinstance(known, Mapping) else [(None, h) for h in known]
    threshold = {"fail_within_bits": rules.duplicate_hamming_fail,
                 "review_within_bits": rules.duplicate_hamming_review}
    if not items:
        return GateResult.ok("duplicate", {"min_distance": None, "compared": 0}, threshold)
    match, distance = min(((key, hamming(phash, h)) for key, h in items), key=lambda kv: kv[1])
    measured = {"min_distance": distance, "compared": len(items), "match": match}
    if distance <= rules.duplicate_hamming_fail:
        return GateResult.fail("duplicate", "duplicate", measured, threshold)
    if distance <= rules.duplicate_hamming_review:
        return GateResult.needs_review("duplicate", "near_duplicate", measured, threshold)
    return GateResult.ok("duplicate", measured, threshold)
