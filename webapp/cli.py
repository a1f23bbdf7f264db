"""The `datadam` command: a Flask CLI group over the app factory, so every command builds its app the same way.

    datadam run                 serve the web app (development server)
    datadam db upgrade|downgrade|current|check
    datadam demo                seed demo accounts and a demo campaign (idempotent)
    datadam users create        create a staff account

The commands themselves live in webapp/commands.py (registered on app.cli by the factory).
"""

from __future__ import annotations

import click
from flask.cli import FlaskGroup

from webapp import create_app


def _make_app():  # noqa: ANN202 - FlaskGroup passes no arguments
    return create_app()


@click.group(cls=FlaskGroup, create_app=_make_app, add_version_option=False, load_dotenv=False)
def cli() -> None:
    """datadam: privacy-preserving data collection campaigns."""


def main() -> None:
    cli(prog_name="datadam")
