"""The issue-6 goals on the shared real data (skipped when ../shared/data is absent)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from anonymize.evaluation import evaluate_groups, evaluate_metadata, evaluate_orientation

pytestmark = pytest.mark.realdata


def test_no_metadata_survives_and_every_refusal_has_a_message(shared_data: Path) -> None:
    from anonymize import exiftool_available

    outcomes = evaluate_metadata(shared_data, with_exiftool=exiftool_available())
    accepted = [o for o in outcomes if o.accepted]
    assert len(accepted) >= 100
    assert [(o.path, o.own_tags_left) for o in accepted if o.own_tags_left] == []
    if exiftool_available():
        assert [(o.path, o.exiftool_tags_left) for o in accepted if o.exiftool_tags_left] == []
    refused = [o for o in outcomes if not o.accepted]
    assert all(o.refusal and o.refusal.split(": ", 1)[1].strip() for o in refused)
    gps = [o for o in accepted if "GPS" in o.removed]
    assert any(o.path.startswith("exif_samples/jpg/gps/") for o in gps)


def test_orientation_samples_come_out_upright(shared_data: Path) -> None:
    outcomes = evaluate_orientation(shared_data)
    assert len(outcomes) >= 8
    assert [o.path for o in outcomes if not o.upright] == []


@pytest.mark.slow
def test_no_bystander_detectable_after_masking_on_group_photos(shared_data: Path) -> None:
    outcomes = evaluate_groups(shared_data)
    assert len(outcomes) >= 4
    assert [(g.path, g.non_subject_after) for g in outcomes if any(g.non_subject_after.values())] == []
    assert all(g.subject_detected for g in outcomes)
    assert all(g.subject_distance is not None and g.subject_distance <= 0.2 for g in outcomes)
    assert sum(g.faces_before for g in outcomes) > len(outcomes)  # there were bystanders to mask


# Masked faces in rwmfd crowd photos that only the Haar cascades find and dlib's CNN misses (left, top, right,
# bottom as Haar boxes them): their skin around the eyes keeps them faces, also under coloured stage light and
# underexposed, in haze or with dark midtones (reviewers' cases: without the corrections blue light dropped 7).
MASKED_HAAR_ONLY = {
    "rwmfd/0001/0156.jpg": (43, 37, 190, 184),
    "rwmfd/0001/0190.jpg": (77, 58, 179, 160),
    "rwmfd/0002/0032.jpg": (109, 107, 163, 161),
    "rwmfd/0002/0053.jpg": (93, 24, 150, 81),
    "rwmfd/0006/0053.jpg": (149, 10, 228, 103),
    "rwmfd/0006/0129.jpg": (12, 8, 61, 53),
    "rwmfd/0006/0155.jpg": (116, 19, 142, 45),
    "rwmfd/0018/0001.jpg": (59, 132, 116, 189),
}


@pytest.mark.slow
def test_masked_faces_seen_by_haar_alone_stay_faces(shared_data: Path) -> None:
    import numpy as np

    from anonymize import MASKING_DETECTORS, DetectorSettings, FaceBox, confirmed_faces, decode_image
    from anonymize._faces import FaceCluster

    def light(gains: tuple[float, float, float], added: tuple[float, float, float] = (0, 0, 0), share: float = 0.0,
              gamma: float = 1.0) -> Callable[[np.ndarray], np.ndarray]:
        def apply(rgb: np.ndarray) -> np.ndarray:
            lit = np.clip(rgb * np.array(gains) * (1 - share) + np.array(added) * share, 0, 255)
            return (255 * (lit / 255) ** gamma).astype(np.uint8)
        return apply

    conditions = {"as shot": light((1, 1, 1)), "blue light": light((0.45, 0.55, 1.0)),
                  "magenta light": light((1.0, 0.4, 1.0)), "green light": light((0.5, 1.0, 0.5)),
                  "amber light": light((1.0, 0.7, 0.25)), "underexposed": light((0.3, 0.3, 0.3)),
                  "blue light added": light((1, 1, 1), (0, 60, 255), 0.5),
                  "haze": light((1, 1, 1), (255, 255, 255), 0.4), "dark midtones": light((1, 1, 1), gamma=2.2)}
    for path, box in MASKED_HAAR_ONLY.items():
        rgb = np.asarray(decode_image((shared_data / path).read_bytes()).image.convert("RGB"))
        alone = FaceBox(*box, "haar:frontalface_default")
        cluster = FaceCluster(alone, (alone,))
        for cast, condition in conditions.items():
            lit = condition(rgb)
            for settings in (MASKING_DETECTORS, DetectorSettings()):
                assert confirmed_faces(lit, [cluster], settings) == [cluster], (path, cast)


@pytest.mark.slow
def test_trail_camera_photo_without_people_gets_no_grey_box(shared_data: Path) -> None:
    """Snow, bark and branches that the Haar cascades take for faces (five boxes before) are left alone."""
    from anonymize import anonymize_photo

    photo = anonymize_photo((shared_data / "exif_samples/jpg/Reconyx_HC500_Hyperfire.jpg").read_bytes())
    assert photo.faces_masked == 0 and photo.mask.clean


@pytest.mark.slow
def test_bench_release_command_reports_its_figures(shared_data: Path) -> None:
    import json

    from click.testing import CliRunner

    from anonymize.commands import bench_release

    result = CliRunner().invoke(
        bench_release,
        ["--photos", "300", "--sample", "2", "--cameras", "1", "--archive", "tar", "--data", str(shared_data),
         "--json"],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["release_photos"] == 300 and figures["sample_photos"] == 2
    assert figures["package_mib"] > 0 and figures["peak_rss_mib"] > figures["rss_before_build_mib"] * 0.5
    assert figures["scrub_mask_cpu_seconds_per_photo"] > 0
    assert figures["camera_photos"] == 1 and figures["camera_megapixels_mean"] >= 1.0
    assert figures["camera_seconds_per_photo"] > 0
