"""`datadam release`, `datadam anonymize` and `datadam bench`: building, verifying and approving dataset releases
from the command line (large releases are built here: every photo is searched for faces, which takes seconds),
the anonymize tools, and the benchmarks.

    datadam release build --campaign SLUG --licensee NAME --out DIR [--purpose TEXT] [--field F]... [--voice]
    datadam release verify DIR [--json]           (the installation's release keys unless --keys/--public-key)
    datadam release approve --release ID --officer EMAIL
    datadam release withdrawals --release ID --out FILE
    datadam release keys [--out FILE]             the public keys licensees verify packages and lists with
    datadam release list
    datadam anonymize file IN OUT [--keep-subject] [--json]
    datadam bench release [--photos N] ...

`release_service()` is the composition of the release service for the CLI and the release pages.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import with_appcontext

from anonymize.commands import anonymize as anonymize_group
from anonymize.commands import bench_release, release_verify
from collection.accounts import User
from collection.errors import NotFound
from collection.releases import ReleaseDraft, ReleaseError, ReleaseService, available_fields
from collection.releases.jobs import BUILD_ERROR, build_now
from webapp.db import get_session
from webapp.services import accounts, background, campaigns


def release_service() -> ReleaseService:
    """The release service on this request's (or command's) session."""
    return background().release_service(get_session())


@click.group("release")
def release() -> None:
    """Dataset releases to licensees."""


@release.command("build")
@click.option("--campaign", "slug", required=True, help="The campaign's slug.")
@click.option("--licensee", required=True, help="Who receives the release.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="A new folder, .zip or .tar.")
@click.option("--purpose", default=None, help="The licensee's purpose (default: as agreed in the licence).")
@click.option("--field", "fields", multiple=True, help="A released field (default: every field the campaign has).")
@click.option("--voice", is_flag=True, help="Include accepted voice recordings.")
@click.option("--operator", "operator_email", default=None, help="The operator building it (email).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@with_appcontext
def build_command(
    slug: str,
    licensee: str,
    out: Path,
    purpose: str | None,
    fields: tuple[str, ...],
    voice: bool,
    operator_email: str | None,
    as_json: bool,
) -> None:
    """Draft, build and verify a release; exit 0 only when its verification passed."""
    service = release_service()
    try:
        campaign = campaigns().by_slug(slug)
        actor = _staff(operator_email) if operator_email else None
        draft = ReleaseDraft(
            campaign,
            licensee,
            purpose or f"As agreed in the licence with {licensee}.",
            fields or available_fields(campaign),
            voice,
        )
        release = service.draft(actor, draft)
        service.plan_build(release, out)  # nothing to release, or --out taken: refused before anything is kept
        get_session().commit()  # the draft stands on its own; the build then holds no transaction while it works
        built = build_now(service, release.id, actor.id if actor else None, out)
    except (ReleaseError, NotFound) as exc:
        get_session().rollback()
        raise click.ClickException(str(exc)) from exc
    get_session().commit()  # a failed build stays on the draft as its build_error, as the page shows it
    failed = (built.build_summary or {}).get(BUILD_ERROR)
    if failed:
        raise click.ClickException(f"release {built.id}: {failed['message']}")
    _print_outcome(built.id, _outcome(built), as_json)
    sys.exit(0 if built.verification_passed else 1)


def _outcome(built: Any) -> dict[str, Any]:
    return {
        "release": built.id,
        "state": built.state.value,
        "package": built.package_path,
        "items": built.items,
        "subjects": built.subjects,
        "excluded": built.build_summary.get("excluded", {}),
        "seconds": built.build_summary.get("seconds"),
        "verified": built.verification_passed,
        "failures": built.failures(),
    }


def _print_outcome(release_id: str, outcome: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(outcome, ensure_ascii=False, indent=2))
        return
    click.echo(
        f"release {release_id}: {outcome['state']}, {outcome['items']} items from {outcome['subjects']} "
        f"contributors -> {outcome['package']} ({outcome['seconds']} s)"
    )
    for reason, count in sorted(outcome["excluded"].items()):
        click.echo(f"  left out: {count} contributor(s), {reason}")
    for failure in outcome["failures"]:
        click.echo(f"FAIL {failure['check']}: {failure.get('file') or '-'}: {failure['detail']}")


def _staff(email: str) -> User:
    user = accounts().find_by_email(email)
    if user is None or not user.role.is_staff:
        raise click.ClickException(f"no staff account {email}")
    return user


@with_appcontext
def _verify(**options: Any) -> None:
    if not options["keys_file"] and not options["inline_keys"]:
        keys = release_service().public_keys()
        options["inline_keys"] = tuple(f"{kid}={base64.b64encode(raw).decode()}" for kid, raw in keys.items())
    assert release_verify.callback is not None
    release_verify.callback(**options)


release.add_command(
    click.Command(
        "verify",
        callback=_verify,
        params=list(release_verify.params),
        help=(release_verify.help or "") + " Without --keys or --public-key, this installation's release keys.",
    )
)


@release.command("approve")
@click.option("--release", "release_id", required=True)
@click.option("--officer", "officer_email", required=True, help="The approving compliance officer (email).")
@with_appcontext
def approve_command(release_id: str, officer_email: str) -> None:
    """Approve a release whose verification passed (refused otherwise, naming the failures)."""
    service = release_service()
    try:
        service.approve(_staff(officer_email), service.get(release_id))
    except (ReleaseError, NotFound) as exc:
        raise click.ClickException(str(exc)) from exc
    get_session().commit()
    click.echo(f"release {release_id} approved")


@release.command("withdrawals")
@click.option("--release", "release_id", required=True)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def withdrawals_command(release_id: str, out: Path) -> None:
    """Write the latest signed withdrawal list of a release (exit 1 when there is none)."""
    service = release_service()
    try:
        lists = service.withdrawal_lists(service.get(release_id))
    except NotFound as exc:
        raise click.ClickException(str(exc)) from exc
    if not lists:
        click.echo(f"release {release_id} has no withdrawal list: nobody withdrew since it was built", err=True)
        sys.exit(1)
    out.write_bytes(lists[0].document_bytes)
    click.echo(f"withdrawal list #{lists[0].sequence} ({lists[0].subject_count} subjects) -> {out}")


@release.command("keys")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@with_appcontext
def keys_command(out: Path | None) -> None:
    """The release signing public keys as {"key-id": "base64"} (the format `release verify --keys` reads)."""
    keys = {kid: base64.b64encode(raw).decode() for kid, raw in release_service().public_keys().items()}
    text = json.dumps(keys, indent=2, sort_keys=True)
    if out is None:
        click.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")


@release.command("list")
@with_appcontext
def list_command() -> None:
    """Every release, newest first."""
    for row in release_service().all():
        click.echo(f"{row.id}  {row.state.value:13}  {row.items:6} items  {row.licensee}")


@click.group("bench")
def bench() -> None:
    """Benchmarks (throughput and memory on real or synthesised data)."""


bench.add_command(bench_release, "release")


@bench.command("feedback")
@click.option("--photos", type=click.IntRange(min=1, max=20), default=8, show_default=True,
              help="Photos uploaded one at a time.")
@click.option("--data-dir", "--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None,
              help="Shared evaluation data (its face_recognition/examples photos; default: ../shared/data beside "
                   "the checkout, else the demo's sample portraits).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench_feedback(photos: int, data_dir: Path | None, as_json: bool) -> None:
    """Seconds from an upload finishing to the gates' answer on the contributor's page (embedded default)."""
    from anonymize.bench import SHARED_DATA
    from webapp.bench_feedback import run_feedback_bench, sample_photos

    figures = run_feedback_bench(sample_photos(data_dir or (SHARED_DATA if SHARED_DATA.is_dir() else None), photos))
    if as_json:
        click.echo(json.dumps(figures, ensure_ascii=False, indent=2))
        return
    for key, value in figures.items():
        if key != "per_photo":
            click.echo(f"{key:32} {value}")
    for row in figures["per_photo"]:
        click.echo(f"  {row['name']:28} {row['kib']:>6} KiB  upload {row['upload_seconds']:.3f} s  "
                   f"answer {row['feedback_seconds']} s  {row['state']}")


def register(app: Flask) -> None:
    for group in (release, anonymize_group, bench):
        app.cli.add_command(group)
