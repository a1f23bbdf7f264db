"""The issue-6 goals on the shared real data (skipped when ../shared/data is absent)."""

from __future__ import annotations

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
