"""`datadam audit`: sequence and checkpoint the audit log, and verify it against the signed checkpoints."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from collection.audit.checkpoints import CheckpointWriter, verify
from consent.service import KeyStore
from webapp.compliance_services import checkpoint_dir
from webapp.db import get_session
from webapp.services import clock, settings


@click.group("audit")
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("checkpoint")
@with_appcontext
def checkpoint_command() -> None:
    """Sequence new events and write a signed checkpoint (size, root, time)."""
    session = get_session()
    writer = CheckpointWriter(
        session, clock(), KeyStore(session, settings().master_key_bytes, clock()), checkpoint_dir()
    )
    cp = writer.write()
    session.commit()
    click.echo(f"checkpoint size={cp.size} root={cp.root} time={cp.time} kid={cp.kid}")


@audit.command("verify")
@click.option(
    "--checkpoints",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of signed checkpoints (default: the configured checkpoint folder).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@with_appcontext
def verify_command(folder: Path | None, as_json: bool) -> None:
    """Recompute every event and checkpoint; exit 0 when consistent, 1 naming the first bad event.

    A checkpoint folder that does not exist, or holds no checkpoint while the log has events, also exits 1: the
    checkpoints are what catch a rewritten log or a restored old backup."""
    report = verify(get_session(), folder or checkpoint_dir())
    if as_json:
        click.echo(json.dumps(report.__dict__, indent=2))
    elif report.ok:
        click.echo(
            f"consistent: {report.size} events, {report.checkpoints} checkpoints verified, "
            f"{report.pending} not yet sequenced"
        )
    else:
        where = f" (first bad event at position {report.first_bad_position})" if report.first_bad_position else ""
        click.echo(f"INCONSISTENT{where}", err=True)
        for problem in report.problems:
            click.echo(f"  - {problem}", err=True)
    sys.exit(0 if report.ok else 1)
