"""`datadam retention run` (erase everything past retention), `datadam erasure reapply` (after restoring a
database backup: erase again what the ledger copy outside the database says was erased) and `datadam compliance
report` (the conformance checklist: a table on the terminal, the printable HTML with --out; exit status 1 when
any line fails)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app, render_template
from flask.cli import with_appcontext

from collection.compliance import ConformanceReport, Status
from webapp.compliance_services import conformance, retention
from webapp.db import get_session
from webapp.services import erasure

_LABEL = {Status.PASS: "PASS", Status.FAIL: "FAIL", Status.NOT_APPLICABLE: "N/A "}


@click.group("retention")
def retention_group() -> None:
    """Retention enforcement."""


@retention_group.command("run")
@click.option("--dry-run", is_flag=True, help="List what is past retention without erasing anything.")
@with_appcontext
def retention_run(dry_run: bool) -> None:
    """Erase every enrollment of every campaign whose retention ended (campaign close + retention days), and the
    sets of closed campaigns that were never sent for review."""
    service = retention()
    if dry_run:
        for item in service.due():
            click.echo(f"due: enrollment {item.enrollment_id} campaign {item.campaign_slug} ended {item.ended_at:%F}")
        for item in service.closed_unsent():
            click.echo(f"due (never sent before the close): enrollment {item.enrollment_id} campaign "
                       f"{item.campaign_slug} closed {item.ended_at:%F}")
        return
    result = service.run(trigger="command")
    get_session().commit()
    for record in result.erased:
        click.echo(f"erased: subject {record.subject_id} campaign {record.campaign_id} at {record.completed_at}")
    click.echo(f"retention run {result.run.id}: {len(result.erased)} enrollments erased")


@click.group("erasure")
def erasure_group() -> None:
    """The erasure ledger."""


@erasure_group.command("reapply")
@with_appcontext
def erasure_reapply() -> None:
    """Run after restoring a database backup: every erasure recorded in the ledger copy kept in the blob store
    (which a database restore does not roll back) is carried out again where the restored data brought it back."""
    again = erasure().reapply()
    get_session().commit()
    click.echo(f"erasure reapply: {again} erasure(s) carried out again")


@click.group("compliance")
def compliance_group() -> None:
    """Compliance reports."""


@compliance_group.command("report")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML report here.")
@with_appcontext
def compliance_report(out: Path | None) -> None:
    """Evaluate the PIPA / GDPR checklist; exit 1 when any line fails."""
    report = conformance().run()
    for number, result in enumerate(report.results, 1):
        click.echo(f"{_LABEL[result.status]}  {number}. {result.title}")
        for line in result.problems[:20]:
            click.echo(f"        - {line}")
    click.echo(
        f"{report.count(Status.PASS)} pass, {report.count(Status.FAIL)} fail, "
        f"{report.count(Status.NOT_APPLICABLE)} not applicable"
    )
    if out is not None:
        out.write_text(_html(report), encoding="utf-8")
        click.echo(f"written: {out}")
    sys.exit(0 if report.ok else 1)


def _html(report: ConformanceReport) -> str:
    """The report as one self-contained, printable HTML file (the page's checklist, with its styles inline)."""
    with current_app.test_request_context("/comply/conformance"):
        return render_template("comply/conformance_file.html", report=report, Status=Status)


def register(app: Flask) -> None:
    app.cli.add_command(retention_group)
    app.cli.add_command(erasure_group)
    app.cli.add_command(compliance_group)
