"""The media boundary of a release build: turn one stored working copy into what a licensee receives.

`ReleaseMedia` is the real implementation (anonymize's photo pipeline: rebuilt from pixels, every face but the
contributor's solid-filled, the encoded file re-checked; recordings re-encoded from their samples as FLAC).
Tests may pass a cheaper implementation of `MediaAnonymizer`; the composition root always uses this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from anonymize import anonymize_photo, scrub_audio


@dataclass(frozen=True)
class ReleasedPhoto:
    """The encoded photo, how many boxes were painted, and whether the contributor's face was found and kept."""

    data: bytes
    faces_masked: int
    subject_kept: bool
    clean: bool


class MediaAnonymizer(Protocol):
    def photo(self, data: bytes, subject_encoding: np.ndarray | None) -> ReleasedPhoto:
        """Scrub and mask one photo; raises anonymize's MediaError family for a broken file."""
        ...

    def voice(self, data: bytes) -> bytes:
        """Re-encode one recording from its samples; raises MediaError for a broken file."""
        ...


class ReleaseMedia:
    """The release policy: JPEG photos with bystanders solid-filled, FLAC recordings, nothing else kept."""

    def photo(self, data: bytes, subject_encoding: np.ndarray | None) -> ReleasedPhoto:
        result = anonymize_photo(data, subject_encoding, keep_subject=True, out_format="JPEG")
        return ReleasedPhoto(
            result.media.data, result.faces_masked, result.mask.subject_box is not None, result.clean
        )

    def voice(self, data: bytes) -> bytes:
        return scrub_audio(data, "flac").data
