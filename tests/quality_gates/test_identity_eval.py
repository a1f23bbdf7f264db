"""The identity evaluation protocol and the model fitting, on synthetic FG-NET-like data (no images)."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from quality_gates import _eval_identity as ev
from quality_gates._identity import DEFAULT_IDENTITY_RULES


def synthetic(subjects: int = 8, photos: int = 6, seed: int = 0) -> ev.FgnetData:
    """Subjects photographed at spread ages; same-person distances ~0.4, strangers ~0.8."""
    rng = np.random.default_rng(seed)
    ids, ages, encodings = [], [], []
    for s in range(subjects):
        base = rng.normal(scale=0.045, size=128)
        count = photos if s else 3  # subject 000 has too few photos for a set of its own
        for age in np.sort(rng.choice(np.arange(0, 45), size=count, replace=False)):
            ids.append(f"{s:03d}")
            ages.append(float(age))
            encodings.append(base + rng.normal(scale=0.025, size=128))
    paths = tuple(f"fgnet/images/{i}A{int(a):02d}.JPG" for i, a in zip(ids, ages, strict=True))
    return ev.FgnetData(paths, np.array(ids), np.array(ages), tuple(encodings))


def test_trials_follow_the_protocol() -> None:
    data = synthetic()
    genuine, impostor = ev.build_trials(data)
    assert [t.subject for t in genuine] == [f"{s:03d}" for s in range(1, 8)]
    assert all(len(t.members) >= ev.MIN_SET_SIZE and t.impostor_at is None for t in genuine)
    for trial in impostor:
        original = next(g for g in genuine if g.subject == trial.subject).members
        swapped, replaced = trial.members[trial.impostor_at], original[trial.impostor_at]
        assert data.subjects[swapped] != trial.subject
        assert abs(data.ages[swapped] - data.ages[replaced]) <= ev.IMPOSTOR_MAX_AGE_GAP
        assert [m for i, m in enumerate(trial.members) if i != trial.impostor_at] == \
            [m for i, m in enumerate(original) if i != trial.impostor_at]
    assert ev.build_trials(data) == (genuine, impostor)  # fixed seed


def test_trials_for_a_subset_draw_the_same_strangers() -> None:
    data = synthetic()
    _, everyone = ev.build_trials(data)
    _, some = ev.build_trials(data, ["002", "005"])
    assert some == [t for t in everyone if t.subject in ("002", "005")]


def test_a_photo_without_a_face_is_left_out_of_trials_and_fits() -> None:
    data = synthetic()
    lost = 7  # a photo of subject 001
    blind = dataclasses.replace(data, encodings=tuple(None if i == lost else e for i, e in enumerate(data.encodings)))
    genuine, impostor = ev.build_trials(blind)
    assert all(lost not in t.members for t in genuine + impostor)
    assert next(t for t in genuine if t.subject == "001").members == tuple(i for i in range(3, 9) if i != lost)
    model = ev.fit_identity_model(blind)
    weights = np.array(model.calibrate_exact.weights + model.calibrate_bracket.weights)
    assert np.isfinite(weights).all()
    rules = ev.fit_rules(blind, model)
    assert np.isfinite([rules.review_child, rules.flag_child, rules.review_adult, rules.flag_adult]).all()


def test_rates_count_review_and_flag_as_caught() -> None:
    judged = [(False, 5.0, False), (True, 6.0, False), (True, 4.0, True), (False, 30.0, False),
              (True, 31.0, True), (False, 32.0, True)]
    rates = ev.rates(judged)
    assert rates["child"] == {"genuine_photos": 2, "false_flag_rate": 0.5, "impostor_photos": 1,
                              "caught_rate": 1.0}
    assert rates["adult"]["false_flag_rate"] == 0.0 and rates["adult"]["caught_rate"] == 0.5


def test_clear_identities_give_no_false_flags_and_catch_every_stranger() -> None:
    data = synthetic()
    # Six photos over 45 years leave some with only distant references; that honest review is tested in
    # test_identity.py, here the protocol arithmetic is.
    rules = dataclasses.replace(DEFAULT_IDENTITY_RULES, min_reference_weight=0.0)
    result = ev.evaluate_fgnet(data, rules=rules)
    for mode in ("with_ages", "brackets_only"):
        for group in ("child", "adult"):
            assert result[mode][group]["false_flag_rate"] in (0.0, None)
    assert result["with_ages"]["child"]["caught_rate"] == 1.0
    assert result["with_ages"]["adult"]["caught_rate"] == 1.0
    assert result["brackets_only"]["adult"]["caught_rate"] == 1.0
    # With brackets only, a stranger in the 0-9 bracket whose nearest photo is a decade older looks like the
    # contributor as a child (real pairs that far apart are that far apart too): most, not all, are caught.
    assert result["brackets_only"]["child"]["caught_rate"] >= 0.9


def test_fitting_learns_that_strangers_are_further_apart() -> None:
    data = synthetic(subjects=10, photos=8)
    subjects = [f"{s:03d}" for s in range(1, 10)]
    pair = ev.fit_pair_model(data, subjects, True)
    features = np.array([1.0, 0.1, 0.01, 0.2, 0.3, 0.03])
    assert features @ np.array(pair.genuine_mean) == pytest.approx(0.4, abs=0.05)
    assert features @ np.array(pair.impostor_mean) > 0.7
    model = ev.fit_identity_model(data, subjects)
    assert model.calibrate_exact.weights[2] < 0  # more evidence, less likely a stranger (adults)
    rules = ev.fit_rules(data, model, subjects)
    assert 0.0 <= rules.review_child <= rules.flag_child <= 1.0


def test_load_reads_only_the_label_file_and_listed_paths(tmp_path: Path) -> None:
    (tmp_path / "fgnet").mkdir()
    with (tmp_path / "fgnet" / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "subject_id", "age_years", "variant_suffix", "landmarks_68pt"])
        writer.writerow(["fgnet/images/a.jpg", "7", "3", "", ""])
        writer.writerow(["fgnet/images/b.jpg", "7", "14", "", ""])
    (tmp_path / "fgnet" / "images").mkdir()
    for name in ("a.jpg", "b.jpg", "unlisted.jpg"):
        (tmp_path / "fgnet" / "images" / name).write_bytes(b"")
    seen: list[Path] = []

    def fake_encode(paths: Sequence[Path]) -> list[np.ndarray | None]:
        seen.extend(paths)
        return [None if path.name == "b.jpg" else np.zeros(128) for path in paths]

    data = ev.load_fgnet(tmp_path, fake_encode)
    assert seen == [tmp_path / "fgnet/images/a.jpg", tmp_path / "fgnet/images/b.jpg"]
    assert data.ages.tolist() == [3.0, 14.0] and data.encodings[1] is None


def test_evaluation_of_an_empty_folder_is_empty(tmp_path: Path) -> None:
    assert ev.evaluate_identity(tmp_path) == {}


def test_fitted_constants_are_printable_source() -> None:
    from quality_gates._identity import DEFAULT_IDENTITY_MODEL, DEFAULT_IDENTITY_RULES

    source = ev.model_source(DEFAULT_IDENTITY_MODEL, DEFAULT_IDENTITY_RULES)
    namespace: dict[str, object] = {}
    exec("from quality_gates._identity import *\n" + source, namespace)  # noqa: S102 - our own output
    rebuilt = namespace["DEFAULT_IDENTITY_MODEL"]
    assert rebuilt.exact.genuine_mean == pytest.approx(DEFAULT_IDENTITY_MODEL.exact.genuine_mean, rel=1e-4)


def test_missing_files_and_blank_rows_are_left_out_and_reported(tmp_path: Path) -> None:
    (tmp_path / "fgnet").mkdir()
    (tmp_path / "fgnet" / "labels.csv").write_text("path,subject_id,age_years\n"
                                                   "fgnet/images/001A02.JPG,001,2\n"
                                                   "fgnet/images/001A05.JPG,001,five\n"
                                                   ",,\n")
    (tmp_path / "fgnet" / "images").mkdir()
    (tmp_path / "fgnet" / "images" / "001A05.JPG").write_bytes(b"\xff\xd8\xff")
    (tmp_path / "cacd_vs").mkdir()
    (tmp_path / "cacd_vs" / "labels.csv").write_text("pair_id,fold,label,image_a,image_b\n"
                                                     "0011,1,same,cacd_vs/0011_0.jpg,cacd_vs/0011_1.jpg\n")
    result = ev.evaluate_identity(tmp_path)
    assert result["fgnet"]["unreadable"] == 3
    assert result["fgnet"]["unreadable_examples"] == [
        "fgnet/images/001A02.JPG: missing",
        "fgnet/images/001A05.JPG: unusable values {'path': 'fgnet/images/001A05.JPG', 'subject_id': '001', "
        "'age_years': 'five'}",
        "(blank path): missing",
    ]
    assert result["cacd_vs"]["pairs"] == 0 and result["cacd_vs"]["unreadable"] == 1
