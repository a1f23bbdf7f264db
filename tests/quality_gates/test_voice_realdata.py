"""The voice gates on real recordings (../shared/data): fsdd, hyke, noisy_speech and the audio_stats clipping
labels, through the evaluation protocol, plus real files in other containers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from quality_gates import decode_audio
from quality_gates._eval_voice import evaluate_voice

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def results(shared_data: Path) -> dict[str, Any]:
    return evaluate_voice(shared_data)


def test_clean_spoken_digits_pass(results: dict[str, Any]) -> None:
    fsdd = results["fsdd"]
    assert fsdd["clean_files"] == 605
    assert fsdd["clean_pass_rate"] >= 0.99


def test_telephone_speech_passes_except_noise_and_clipping(results: dict[str, Any]) -> None:
    hyke = results["hyke"]
    assert hyke["clean_pass_rate"] >= 0.9
    # What stops a hyke call is noise (borderline SNR goes to review) or clipping, nothing else.
    assert set(hyke["failures"]) <= {"snr:borderline", "snr:too_noisy", "clipping:clipped"}


def test_noisy_recordings(results: dict[str, Any]) -> None:
    noisy = results["noisy_speech"]
    assert noisy["synthetic_caught_rate"] == 1.0
    # Of the two real recordings the baby crying is caught; the cafe one measures ~36 dB SNR, cleaner than
    # many hyke calls, and passes (see the voice gate docstring).
    assert noisy["real_recordings"] == 2 and noisy["real_caught_rate"] == 0.5
    verdicts = {Path(f["path"]).name: f["verdict"] for f in noisy["files"]}
    assert verdicts["audioset_realrec_babycry_2x43exdQ5bo.wav"] != "pass"


def test_clipping_matches_audio_stats(results: dict[str, Any]) -> None:
    clipping = results["clipping"]
    assert clipping["clipped_files"] >= 1 and clipping["clipped_flagged_rate"] == 1.0
    assert clipping["unclipped_files"] > 600 and clipping["unclipped_false_flag_rate"] == 0.0


@pytest.mark.parametrize(("rel", "channels", "codec"), [("mat2_testdata/dirty.mp4", 1, "aac"),
                                                         ("mat2_testdata/dirty.flac", 2, "flac")])
def test_real_files_in_other_containers_decode(shared_data: Path, rel: str, channels: int, codec: str) -> None:
    audio = decode_audio((shared_data / rel).read_bytes())
    assert audio.channels == channels and audio.codec == codec
    assert 0.05 < float(np.abs(audio.samples).max()) <= 1.0
