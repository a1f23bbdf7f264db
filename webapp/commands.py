"""The commands of the `datadam` CLI that need the app, registered on `app.cli` by the factory (so
`app.test_cli_runner()` and the `datadam` entry point see the same commands)."""

from __future__ import annotations

import secrets
import sys

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from collection.accounts import Role
from collection.errors import EmailTaken, WeakPassword
from webapp import db as webdb
from webapp import migrate
from webapp.services import accounts, settings


# -- database ----------------------------------------------------------------------------------------------------
@click.group()
def db() -> None:
    """Database schema migrations."""


@db.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    migrate.upgrade(settings().database_url, revision, settings().master_key_bytes)
    click.echo(f"database at {', '.join(migrate.current(webdb.engine(current_app))) or 'base'}")


@db.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (e.g. -1 or base)."""
    migrate.downgrade(settings().database_url, revision, settings().master_key_bytes)
    click.echo(f"database at {', '.join(migrate.current(webdb.engine(current_app))) or 'base'}")


@db.command("current")
@with_appcontext
def db_current() -> None:
    """Show the database's revision and the code's head."""
    click.echo(f"current: {', '.join(migrate.current(webdb.engine(current_app))) or 'base'}")
    click.echo(f"head:    {', '.join(migrate.heads())}")


@db.command("check")
@with_appcontext
def db_check() -> None:
    """Exit 1 when the database is behind the code's migrations."""
    if migrate.pending(webdb.engine(current_app)):
        click.echo("database is behind the migrations: run `datadam db upgrade`", err=True)
        sys.exit(1)
    click.echo("database is up to date")


# -- accounts ----------------------------------------------------------------------------------------------------
@click.group()
def users() -> None:
    """Accounts."""


@users.command("create")
@click.option("--role", type=click.Choice([r.value for r in Role if r.is_staff]), required=True)
@click.option("--email", required=True)
@click.option("--name", "display_name", required=True)
@click.option("--password", default=None, help="Initial password (prompted if omitted; 'generate' makes one).")
@click.option("--locale", type=click.Choice(["ko", "en"]), default="ko")
@with_appcontext
def users_create(role: str, email: str, display_name: str, password: str | None, locale: str) -> None:
    """Create a staff account (operator, compliance officer or admin)."""
    from email_validator import EmailNotValidError, validate_email

    try:  # the same check as the sign-in form's, so the account can sign in
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise click.BadParameter(f"{email!r} is not an address the sign-in form accepts: {exc}",
                                 param_hint="--email") from exc
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    elif password == "generate":
        password = secrets.token_urlsafe(12)
        click.echo(f"generated password: {password}")
    try:
        user = accounts().create_staff(email, password, Role(role), display_name, locale)
    except (EmailTaken, WeakPassword) as exc:
        raise click.ClickException(str(exc)) from exc
    webdb.get_session().commit()
    click.echo(f"created {role} {user.id}")


@click.command("demo")
@with_appcontext
def demo() -> None:
    """Seed demo accounts and a demo campaign; safe to run again."""
    from webapp.demo import seed

    if settings().production:
        raise click.ClickException("demo data is refused in production mode")
    for line in seed():
        click.echo(line)


def register(app: Flask) -> None:
    for command in (db, users, demo):
        app.cli.add_command(command)
    from webapp.commands_consent import consent_group  # the consent commands (issue 3)

    app.cli.add_command(consent_group)
    from webapp.commands_audit import audit

    app.cli.add_command(audit)
    from webapp.commands_jobs import jobs, worker

    app.cli.add_command(worker)
    app.cli.add_command(jobs)
    from webapp import commands_compliance  # retention and conformance report (issue 7)

    commands_compliance.register(app)
    from webapp import commands_release  # release, anonymize and bench (issue 6)

    commands_release.register(app)
    from webapp import commands_gates  # photo, set and voice gates, evaluation and benchmark (issue 5)

    commands_gates.register(app)
