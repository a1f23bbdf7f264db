"""`datadam consent`: check receipts offline, export every receipt for an archive, rotate the signing key.

    datadam consent verify RECEIPT.json [--keys KEYS.json]   exit 0 and "valid", or exit 1 and the reason
    datadam consent export --out DIR [--campaign SLUG]      every receipt as a file, plus the public key file
    datadam consent rotate-key                              retire the consent signing key, start a new one

`verify` with ``--keys`` needs nothing but the two files (no database, no network): it is what a compliance
officer or an auditor runs on an exported archive. Without ``--keys`` it checks against this installation's
published keys (the same document as ``/.well-known/datadam/consent-keys.json``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from collection.campaigns import Campaign
from consent.canonical import canonical_json
from consent.models import ConsentRecord
from consent.receipts import verify_receipt
from webapp.db import get_session
from webapp.services import clock, consent

KEYS_FILE = "consent-keys.json"
_FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


@click.group("consent")
def consent_group() -> None:
    """Consent receipts and their signing keys."""


@consent_group.command("verify")
@click.argument("receipt", type=_FILE)
@click.option("--keys", "keys_file", type=_FILE, default=None, help="A public key document (consent-keys.json).")
@with_appcontext
def verify(receipt: Path, keys_file: Path | None) -> None:
    """Check RECEIPT.json: signature, key validity period and schema. Exit 0 when valid, 1 otherwise."""
    keys: bytes | dict[str, object] = (
        keys_file.read_bytes() if keys_file else consent().keys.public_document().to_dict()
    )
    result = verify_receipt(receipt.read_bytes(), keys, now=clock().now())
    if not result.valid or result.facts is None:
        code = result.failure.value if result.failure else "invalid"
        click.echo(f"invalid ({code}): {result.reason}", err=True)
        sys.exit(1)
    facts = result.facts
    click.echo("valid")
    click.echo(
        f"receipt {facts.receipt_id}: {facts.event.value} under {facts.notice_version_id} "
        f"at {facts.timestamp.isoformat()}, key {facts.kid}"
    )


@consent_group.command("export")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--campaign", "slug", default=None, help="Only this campaign's receipts.")
@with_appcontext
def export(out_dir: Path, slug: str | None) -> None:
    """Write every receipt (the signed bytes, verbatim) as DIR/receipts/<campaign>/<id>.json, and the current
    public key document as DIR/consent-keys.json."""
    session = get_session()
    query = select(ConsentRecord, Campaign.slug).join(Campaign, Campaign.id == ConsentRecord.campaign_id)
    if slug is not None:
        if session.scalar(select(Campaign.id).where(Campaign.slug == slug)) is None:
            raise click.ClickException(f"no campaign {slug!r}")
        query = query.where(Campaign.slug == slug)
    rows = session.execute(query.order_by(Campaign.slug, ConsentRecord.created_at, ConsentRecord.sequence)).all()
    for record, campaign_slug in rows:
        folder = out_dir / "receipts" / campaign_slug
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{record.id}.json").write_bytes(record.receipt_bytes)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / KEYS_FILE).write_bytes(canonical_json(consent().keys.public_document().to_dict()))
    click.echo(f"exported {len(rows)} receipt(s) and {KEYS_FILE} to {out_dir}")


@consent_group.command("rotate-key")
@with_appcontext
def rotate_key() -> None:
    """Retire the current consent signing key (it stays published, so its receipts keep verifying) and
    start a new one."""
    service = consent()
    open_before = {key.kid for key in service.keys.public_document().keys if key.valid_until is None}
    created = service.keys.rotate()
    get_session().commit()
    for key in service.keys.public_document().keys:
        if key.kid in open_before and key.valid_until is not None:
            click.echo(f"retired {key.kid}: it signs nothing after {key.valid_until.isoformat()} and stays published")
    click.echo(f"new consent signing key {created.kid}, valid from {created.public.valid_from.isoformat()}")
