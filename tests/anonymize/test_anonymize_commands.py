"""The anonymize click commands: `anonymize file`, `release verify`."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import _anon_media as fx
import pytest
from click.testing import CliRunner

from anonymize import disallowed_tags
from anonymize.commands import anonymize, release_verify


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_scrubs_a_photo_and_says_what_was_removed(runner: CliRunner, tmp_path: Path) -> None:
    source, target = tmp_path / "in.jpg", tmp_path / "out.jpg"
    source.write_bytes(fx.jpeg_with_everything())
    result = runner.invoke(anonymize, ["file", str(source), str(target)])
    assert result.exit_code == 0, result.output
    assert "GPS" in result.output and "EXIF" in result.output and "masked 0 face(s)" in result.output
    assert disallowed_tags(target.read_bytes()) == []


def test_json_output_for_audio(runner: CliRunner, tmp_path: Path) -> None:
    source, target = tmp_path / "in.mp3", tmp_path / "out.flac"
    source.write_bytes(fx.mp3_with_tags())
    result = runner.invoke(anonymize, ["file", str(source), str(target), "--json"])
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output)
    assert outcome["ok"] and outcome["kind"] == "audio" and outcome["format"] == "FLAC"
    assert {"ID3", "APE"} <= set(outcome["removed"])
    assert disallowed_tags(target.read_bytes()) == []


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"%PDF-1.7 ...", "out.jpg", "PDF is not accepted"),
        (b"\xff\xd8\xff\xe0broken", "out.jpg", "refused"),
        (fx.wav_bytes(), "out.jpg", "must end in"),
    ],
)
def test_refused_files_exit_1_with_a_message(
    runner: CliRunner, tmp_path: Path, data: bytes, name: str, message: str
) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(data)
    result = runner.invoke(anonymize, ["file", str(source), str(tmp_path / name)])
    assert result.exit_code == 1
    assert message in result.output
    assert not (tmp_path / name).exists()


def test_refusal_as_json(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    source.write_bytes(fx.png_bomb())
    result = runner.invoke(anonymize, ["file", str(source), str(tmp_path / "out.png"), "--json"])
    assert result.exit_code == 1
    first_line = result.output.splitlines()[0]
    assert json.loads(first_line)["error"] == "decompression_bomb"


def test_release_verify_command(runner: CliRunner, tmp_path: Path) -> None:
    from test_anonymize_package import KEYS, build

    package = build(tmp_path / "release.zip")
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps({k: base64.b64encode(v).decode() for k, v in KEYS.items()}))
    ok = runner.invoke(release_verify, [str(package), "--json", "--keys", str(keys_file)])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["ok"] is True
    ((key_id, raw),) = KEYS.items()
    inline = runner.invoke(release_verify, [str(package), f"--public-key={key_id}={base64.b64encode(raw).decode()}"])
    assert inline.exit_code == 0 and "release verified" in inline.output
    unsigned = runner.invoke(release_verify, [str(package), "--json"])
    assert unsigned.exit_code == 1
    report = json.loads(unsigned.output)
    assert report["ok"] is False and report["failures"][0]["check"] == "signature"
    assert report["failures"][0]["detail"] == f"key {key_id!r}: not among the trusted public keys"  # as before codes
    assert report["failures"][0]["code"] == "unknown_key" and report["failures"][0]["params"] == {"key_id": key_id}


def test_release_verify_holds_a_package_to_its_datasheet_k(runner: CliRunner, tmp_path: Path) -> None:
    from test_anonymize_package import KEYS, _info, build

    package = build(tmp_path / "release", info=_info(k=10))  # classes of six people, datasheet promises ten
    ((key_id, raw),) = KEYS.items()
    key = f"--public-key={key_id}={base64.b64encode(raw).decode()}"
    result = runner.invoke(release_verify, [str(package), key, "--k-min", "5", "--no-faces"])
    assert result.exit_code == 1, result.output
    assert "6 people share the rarest signature (required 10)" in result.output
    assert "FAIL k_anonymity" in result.output
    as_json = json.loads(runner.invoke(release_verify, [str(package), key, "--no-faces", "--json"]).output)
    assert as_json["k_required"] == 10 and as_json["k_achieved"] == 6 and as_json["ok"] is False
