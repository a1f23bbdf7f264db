"""Configuration: environment variables, generated secrets, production refusals."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from webapp.config import ConfigError, load

KEY = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="


def test_embedded_default_generates_secrets_once_with_0600(tmp_path: Path) -> None:
    env = {"DATADAM_DATA_DIR": str(tmp_path / "var")}
    first = load(environ=env)
    assert first.database_url == f"sqlite:///{tmp_path / 'var' / 'datadam.sqlite3'}"
    for name in ("secret_key", "master_key"):
        mode = stat.S_IMODE((tmp_path / "var" / name).stat().st_mode)
        assert mode == 0o600, oct(mode)
    second = load(environ=env)
    assert (first.secret_key, first.master_key) == (second.secret_key, second.master_key)
    assert len(first.master_key_bytes) == 32


def test_production_without_secrets_stops_with_a_clear_message(tmp_path: Path) -> None:
    env = {"DATADAM_ENV": "production", "DATADAM_DATA_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="DATADAM_SECRET_KEY, DATADAM_MASTER_KEY"):
        load(environ=env)
    assert not (tmp_path / "secret_key").exists()  # nothing generated in production


def test_production_with_secrets_starts(tmp_path: Path) -> None:
    env = {
        "DATADAM_ENV": "production",
        "DATADAM_DATA_DIR": str(tmp_path),
        "DATADAM_SECRET_KEY": "x" * 40,
        "DATADAM_MASTER_KEY": KEY,
        "DATADAM_DATABASE_URL": "postgresql+psycopg://u@h/db",
    }
    with pytest.raises(ConfigError) as refused:  # the development values would be signed into receipts
        load(environ=env)
    assert "DATADAM_BASE_URL, DATADAM_CONTROLLER_NAME, DATADAM_CONTROLLER_CONTACT" in str(refused.value)
    env |= {"DATADAM_BASE_URL": "https://data.example.kr", "DATADAM_CONTROLLER_NAME": "(주)데이터수집",
            "DATADAM_CONTROLLER_CONTACT": "privacy@data.example.kr"}
    with pytest.raises(ConfigError, match="DATADAM_AUDIT_CHECKPOINT_DIR"):  # not each worker's own folder
        load(environ=env)
    env["DATADAM_AUDIT_CHECKPOINT_DIR"] = str(tmp_path / "worm")
    s = load(environ=env)
    assert s.production and s.database_url.startswith("postgresql")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATADAM_MAX_UPLOAD_MB": "lots"}, "DATADAM_MAX_UPLOAD_MB"),
        ({"DATADAM_MASTER_KEY": "c2hvcnQ="}, "DATADAM_MASTER_KEY"),
        ({"DATADAM_BLOB_BACKEND": "s3"}, "DATADAM_S3_BUCKET"),
        ({"DATADAM_JOB_BACKEND": "cron"}, "DATADAM_JOB_BACKEND"),
        ({"DATADAM_DATABSE_URL": "typo"}, "unknown setting"),
        ({"DATADAM_JURISDICTIONS": "US"}, "DATADAM_JURISDICTIONS"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(environ={"DATADAM_DATA_DIR": str(tmp_path), **env})


def test_lists_and_numbers_are_parsed(tmp_path: Path) -> None:
    s = load(
        environ={"DATADAM_DATA_DIR": str(tmp_path), "DATADAM_JURISDICTIONS": "KR, EU", "DATADAM_MAX_UPLOAD_MB": "40"}
    )
    assert s.jurisdictions == ("KR", "EU") and s.max_content_length == 40 * 1024 * 1024
