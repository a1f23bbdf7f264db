"""Configuration: defaults plus `DATADAM_*` environment variables, read once in the factory and validated.

Domain code never reads configuration itself; the composition root hands it plain values from `Settings`.
In the embedded default (no `DATADAM_ENV=production`) the secret key and the master data key are generated once
into the data folder with 0600 permissions. In production, missing secrets stop start-up with a clear message.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


class ConfigError(RuntimeError):
    """The configuration cannot run: the message names the variable and what to do."""


ENVIRONMENTS = ("development", "production", "testing")
BLOB_BACKENDS = ("local", "s3")
JOB_BACKENDS = ("inprocess", "celery", "sync")


@dataclass(frozen=True)
class Settings:
    """Every setting datadam reads. The env var for `foo_bar` is `DATADAM_FOO_BAR`."""

    env: str = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    secret_key: str = ""
    master_key: str = ""  # base64 of 32 bytes: wraps every contributor data key; never stored in the database
    blob_backend: str = "local"
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    job_backend: str = "inprocess"
    broker_url: str = "redis://127.0.0.1:6379/0"
    base_url: str = "http://127.0.0.1:5000"
    max_upload_mb: int = 25
    staff_idle_minutes: int = 15
    staff_absolute_hours: int = 8
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    login_ip_max_failures: int = 20
    jurisdictions: tuple[str, ...] = ("KR",)
    controller_name: str = "datadam demo controller"
    controller_contact: str = "privacy@datadam.example"
    audit_checkpoint_dir: Path | None = None
    default_locale: str = "ko"
    # How many reverse proxies (the TLS terminator) sit in front and set X-Forwarded-For/-Proto/-Host; 0 trusts none.
    proxy_hops: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def testing(self) -> bool:
        return self.env == "testing"

    @property
    def master_key_bytes(self) -> bytes:
        return base64.b64decode(self.master_key)

    @property
    def checkpoint_folder(self) -> Path:
        """Where the signed audit checkpoints are written (configured, else under the data folder)."""
        return self.audit_checkpoint_dir or self.data_dir / "audit-checkpoints"

    @property
    def max_content_length(self) -> int:
        return self.max_upload_mb * 1024 * 1024


def _coerce(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if raw.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(raw)
            return raw.lower() in {"1", "true", "yes"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, tuple):
            return tuple(p.strip() for p in raw.split(",") if p.strip())
        if isinstance(default, Path) or name.endswith("_dir"):
            return Path(raw)
    except ValueError as exc:
        raise ConfigError(f"DATADAM_{name.upper()}={raw!r} is not a valid value") from exc
    return raw


def from_environment(environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build settings from defaults, then `DATADAM_*` variables, then explicit overrides (tests, factory arg)."""
    base = Settings()
    values: dict[str, Any] = {}
    known = {f.name for f in fields(Settings)} - {"extra"}
    for f in fields(Settings):
        key = f"DATADAM_{f.name.upper()}"
        if f.name in known and key in environ:
            values[f.name] = _coerce(f.name, environ[key], getattr(base, f.name))
    unknown = sorted(k for k in environ if k.startswith("DATADAM_") and k[8:].lower() not in known)
    unknown = [k for k in unknown if not k.startswith("DATADAM_TEST_")]
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)} (see README, Configuration)")
    for k, v in (overrides or {}).items():
        if k not in known and k != "extra":
            raise ConfigError(f"unknown setting {k!r}")
        values[k] = Path(v) if k.endswith("_dir") and isinstance(v, str) else v
    return replace(base, **values)


def _secret_file(path: Path, make: Any) -> str:
    """Read a generated secret, or create it once with 0600 permissions (embedded default only)."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def finalize(settings: Settings) -> Settings:
    """Fill derived values and generated secrets, then validate; raises ConfigError naming what is wrong."""
    if settings.env not in ENVIRONMENTS:
        raise ConfigError(f"DATADAM_ENV must be one of {', '.join(ENVIRONMENTS)}, not {settings.env!r}")
    data_dir = settings.data_dir.resolve()
    values: dict[str, Any] = {"data_dir": data_dir}
    if not settings.database_url:
        values["database_url"] = f"sqlite:///{data_dir / 'datadam.sqlite3'}"
    missing = [n for n in ("secret_key", "master_key") if not getattr(settings, n)]
    if settings.production and missing:
        names = ", ".join(f"DATADAM_{n.upper()}" for n in missing)
        raise ConfigError(f"production mode needs {names}: set them (they are never generated in production)")
    if not settings.secret_key:
        values["secret_key"] = _secret_file(data_dir / "secret_key", lambda: secrets.token_urlsafe(48))
    if not settings.master_key:
        values["master_key"] = _secret_file(
            data_dir / "master_key", lambda: base64.b64encode(secrets.token_bytes(32)).decode()
        )
    result = replace(settings, **values)
    _validate(result)
    return result


def _validate(s: Settings) -> None:
    try:
        key = s.master_key_bytes
    except ValueError as exc:
        raise ConfigError("DATADAM_MASTER_KEY must be base64 of 32 random bytes") from exc
    if len(key) != 32:
        raise ConfigError("DATADAM_MASTER_KEY must be base64 of 32 random bytes")
    if len(s.secret_key) < 32:
        raise ConfigError("DATADAM_SECRET_KEY must be at least 32 characters")
    if s.blob_backend not in BLOB_BACKENDS:
        raise ConfigError(f"DATADAM_BLOB_BACKEND must be one of {', '.join(BLOB_BACKENDS)}")
    if s.blob_backend == "s3" and not s.s3_bucket:
        raise ConfigError("DATADAM_BLOB_BACKEND=s3 needs DATADAM_S3_BUCKET")
    if s.job_backend not in JOB_BACKENDS:
        raise ConfigError(f"DATADAM_JOB_BACKEND must be one of {', '.join(JOB_BACKENDS)}")
    if s.default_locale not in ("ko", "en"):
        raise ConfigError("DATADAM_DEFAULT_LOCALE must be ko or en")
    if not 0 <= s.proxy_hops <= 5:
        raise ConfigError("DATADAM_PROXY_HOPS must be between 0 and 5 (the reverse proxies in front of the app)")
    if not 1 <= s.max_upload_mb <= 512:
        raise ConfigError("DATADAM_MAX_UPLOAD_MB must be between 1 and 512")
    if not set(s.jurisdictions) <= {"KR", "EU"} or "KR" not in s.jurisdictions:
        raise ConfigError("DATADAM_JURISDICTIONS must be KR or KR,EU")
    if s.production:
        # Signed receipts carry the privacy-policy address and consent documents name the controller: the
        # development defaults would be signed into them for good.
        base = Settings()
        demo = [f"DATADAM_{name.upper()}" for name in ("base_url", "controller_name", "controller_contact")
                if getattr(s, name) == getattr(base, name)]
        if demo:
            raise ConfigError(f"production mode needs {', '.join(demo)}: the development defaults would be signed "
                              "into consent receipts and notices")
        if s.audit_checkpoint_dir is None:
            raise ConfigError("production mode needs DATADAM_AUDIT_CHECKPOINT_DIR: signed audit checkpoints must go "
                              "to write-once storage every worker shares, not to each machine's working directory")


def load(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """The one entry point: defaults + environment + overrides, finalized and validated."""
    return finalize(from_environment(os.environ if environ is None else environ, overrides))
