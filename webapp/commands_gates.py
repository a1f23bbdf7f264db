"""`datadam gates` (photo, set, voice, eval) and `datadam bench gates`, mounted from the pure quality_gates
library, which owns the command forms; they need no app or database."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from quality_gates.commands import bench_gates, gates
    from webapp.commands_release import bench

    app.cli.add_command(gates)
    if "gates" not in bench.commands:
        bench.add_command(bench_gates, "gates")
