"""The photo and recording pipelines the release build and the command line share: scrub, mask, encode,
re-check.

A photo is decoded (upright, sRGB, no metadata), bystanders are masked, and the result is encoded. The encoded
file is then decoded again and searched once more, because what leaves datadam is the encoded file, not the
array: compression softens painted edges and can tip a face at the edge of detectability over the threshold.
Anything found there is painted and the file re-encoded.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from anonymize._audio import AudioLimits, AudioOutFormat, ScrubbedAudio, scrub_audio
from anonymize._formats import AUDIO_FORMATS, IMAGE_FORMATS, sniff
from anonymize._image import ImageLimits, ImageOutFormat, ScrubbedMedia, decode_image, encode_image
from anonymize._masking import MaskResult, MaskSettings, mask_bystanders, mask_remaining
from anonymize.errors import UnsupportedFormat

_RECHECK_ROUNDS = 2


@dataclass(frozen=True)
class AnonymizedPhoto:
    """A scrubbed, masked photo: the encoded `media` and the `mask` outcome (`faces_masked` counts boxes
    painted in all rounds, including the post-encoding re-check). `clean`: the last whole-image search of the
    encoded file found no face but the subject's (False when the re-check rounds ran out while still painting).
    """

    media: ScrubbedMedia
    mask: MaskResult
    faces_masked: int
    clean: bool = True


def anonymize_photo(
    data: bytes,
    subject_encoding: np.ndarray | Sequence[float] | None = None,
    *,
    keep_subject: bool = True,
    out_format: ImageOutFormat = "JPEG",
    limits: ImageLimits | None = None,
    settings: MaskSettings | None = None,
) -> AnonymizedPhoto:
    """Scrub the photo `data`, mask every face but the contributor's, encode, and re-check the encoded file.

    Raises the `MediaError` family for refused input and `ModelUnavailable` when a detector cannot load.
    """
    settings = settings or MaskSettings()
    decoded = decode_image(data, limits)
    image = decoded.image.convert("RGB") if decoded.image.mode != "RGB" else decoded.image
    result = mask_bystanders(np.asarray(image), subject_encoding, keep_subject=keep_subject, settings=settings)
    pixels = result.image
    painted = len(result.masked_boxes)
    media = _encode(pixels, decoded.image.mode, out_format, decoded.removed)
    # The encoded file is searched whole (masking's own re-check looked only around its paint, and encoding
    # touches every pixel); whatever it finds is painted and the file encoded and searched again.
    clean = False
    for _ in range(_RECHECK_ROUNDS + 1):
        extra = mask_remaining(_decoded_rgb(media.data), pixels, result.subject_box, settings)
        if not extra:
            clean = True
            break
        painted += len(extra)
        media = _encode(pixels, decoded.image.mode, out_format, decoded.removed)
    return AnonymizedPhoto(media, result, painted, clean)


def scrub_any(
    data: bytes,
    *,
    image_format: ImageOutFormat = "JPEG",
    audio_format: AudioOutFormat = "wav",
    image_limits: ImageLimits | None = None,
    audio_limits: AudioLimits | None = None,
) -> ScrubbedMedia | ScrubbedAudio:
    """Metadata scrub of an image or a recording, chosen by content (no face masking)."""
    from anonymize._image import scrub_image

    kind = sniff(data).kind
    if kind == "image":
        return scrub_image(data, image_format, image_limits)
    if kind == "audio":
        return scrub_audio(data, audio_format, audio_limits)
    raise UnsupportedFormat(sniff(data).format, IMAGE_FORMATS + AUDIO_FORMATS)


def _encode(pixels: np.ndarray, mode: str, out_format: ImageOutFormat, removed: tuple[str, ...]) -> ScrubbedMedia:
    image = Image.fromarray(pixels, "RGB")
    if mode == "L":
        image = image.convert("L")  # masking worked on RGB; a grey photo stays grey
    return encode_image(image, out_format, removed)


def _decoded_rgb(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data), formats=["JPEG", "PNG"]) as image:
        return np.asarray(image.convert("RGB"))
