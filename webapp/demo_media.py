"""Sample media for the demo and the tests, made from an installed package's own sample photo (scikit-image's
`astronaut.png`, a public-domain NASA portrait), never from ../shared/data. Each variant is a different crop,
scale, tilt, exposure and mirror of the same face, so it is the same person but not a duplicate photo."""

from __future__ import annotations

import datetime as dt
import io
import random
from functools import cache
from importlib.resources import files

from PIL import Image, ImageEnhance

FACE_CENTRE = (215, 130)  # the face in astronaut.png (x, y), found once with the face detector


@cache
def _base() -> Image.Image:
    with (files("skimage") / "data" / "astronaut.png").open("rb") as fh:
        return Image.open(fh).convert("RGB")


def face_photo(variant: int = 0, size: int = 480, captured: dt.datetime | None = None) -> bytes:
    """A JPEG of the sample face; `variant` picks crop, tilt, exposure and mirroring deterministically."""
    rng = random.Random(variant)
    base = _base()
    half = rng.randint(150, 240)
    cx = FACE_CENTRE[0] + rng.randint(-40, 40)
    cy = FACE_CENTRE[1] + rng.randint(-20, 40)
    box = (max(0, cx - half), max(0, cy - half), min(base.width, cx + half), min(base.height, cy + half))
    image = base.crop(box).rotate(rng.uniform(-6, 6), resample=Image.Resampling.BICUBIC, expand=False)
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.85, 1.15))
    image = ImageEnhance.Color(image).enhance(rng.uniform(0.8, 1.2))
    if variant % 2:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = image.resize((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    exif = Image.Exif()
    if captured is not None:
        exif[0x8769] = {0x9003: captured.strftime("%Y:%m:%d %H:%M:%S")}  # DateTimeOriginal
    image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def blank_photo(size: int = 480, seed: int = 0) -> bytes:
    """A photo with no face at all (a textured background), for 'no face found' paths."""
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size), (rng.randint(90, 160), rng.randint(90, 160), rng.randint(90, 160)))
    image = image.effect_spread(12) if hasattr(image, "effect_spread") else image
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()
