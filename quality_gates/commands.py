"""Command-line forms of the photo gates: the `gates` click group and the `bench_gates` command.

    datadam gates photo PATH... --json [--rules RULES.json]
        A JSON array, one object per file: {"path", "passed", "verdict", "gates": [{"name", "passed",
        "measured", "threshold", "reason", ...}...], "faces": [{"box": [top, right, bottom, left],
        "inter_eye_px"}...]}. An undecodable file is a failed "decode" gate, not a crash.
    datadam gates eval --data DIR --json
        Runs every labelled set found in DIR (laid out like ../shared/data) and prints the metrics.
    datadam bench gates --data DIR [--json]
        Throughput against the naive face_recognition pipeline and the 70-photo set wall time.

`set` and `voice` are attached to the same group by quality_gates._commands_setvoice.register(gates).
Exit status 0 when every file was examined (whatever the verdicts), 1 when a listed file could not be read,
2 for a malformed rules file (click's usage error).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from quality_gates._photo import check_photo
from quality_gates._report import GateResult
from quality_gates._rules import PhotoRules
from quality_gates.errors import RulesError


def load_photo_rules(path: Path | None) -> PhotoRules:
    """PhotoRules from a JSON file (defaults without one); click.BadParameter for a bad file or rule."""
    if path is None:
        return PhotoRules()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return PhotoRules.from_dict(data)
    except (OSError, ValueError, RulesError) as exc:
        raise click.BadParameter(str(exc), param_hint="--rules") from exc


def photo_result(path: Path, rules: PhotoRules) -> tuple[dict[str, Any], bool]:
    """The JSON object for one file and whether the file could be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        gate = GateResult.fail("decode", "unreadable", {"error": type(exc).__name__})
        return {"path": str(path), "passed": False, "verdict": gate.verdict.value,
                "gates": [gate.to_dict()], "faces": []}, False
    report = check_photo(data, rules).to_dict()
    return {"path": str(path), **report}, True


@click.group("gates")
def gates() -> None:
    """Run the quality gates on files (photo; set and voice where installed; eval)."""


@gates.command("photo")
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the results as a JSON array.")
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Photo thresholds as a JSON object (PhotoRules fields).")
def photo_command(paths: tuple[Path, ...], as_json: bool, rules_path: Path | None) -> None:
    """Photo gates (decode, face found, size, pose, occlusion, sharpness, exposure) per file."""
    rules = load_photo_rules(rules_path)
    results, all_read = [], True
    for path in paths:
        result, read = photo_result(path, rules)
        results.append(result)
        all_read &= read
    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        for item in results:
            stopped = [f"{g['name']}:{g['reason']}" for g in item["gates"] if not g["passed"]]
            click.echo(f"{item['verdict']:<7} {item['path']}  {' '.join(stopped)}")
    if not all_read:
        raise SystemExit(1)


@gates.command("eval")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the full metrics as JSON.")
@click.option("--workers", type=int, default=None, help="Processes to use (default: all cores).")
def eval_command(data_dir: Path, as_json: bool, workers: int | None) -> None:
    """Evaluate the gates on every labelled set found in DIR."""
    from quality_gates.evaluation import evaluate

    result = evaluate(data_dir, workers=workers)
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
        return
    goals = result["photo_goals"]
    for name, value in goals["figures"].items():
        click.echo(f"{name:<28} {value}")
    click.echo(f"goals met: {goals['met']}")


@click.command("gates")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--workers", type=int, default=None, help="Processes for the set benchmark (default: all cores).")
def bench_gates(data_dir: Path, as_json: bool, workers: int | None) -> None:
    """Benchmark the photo gates against the naive face_recognition pipeline (mount as `bench gates`)."""
    from quality_gates.bench import run_bench

    result = run_bench(data_dir, workers=workers)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    if "photos_per_s" not in result:
        click.echo(result.get("reason", "not run"))
        return
    rates = result["photos_per_s"]
    click.echo(f"photos: {result['photos']}")
    click.echo(f"(a) naive face_recognition  {rates['naive']:8.2f} photos/s")
    click.echo(f"(b) datadam photo gates     {rates['gates']:8.2f} photos/s")
    click.echo(f"(c) JPEG decode alone       {rates['decode']:8.2f} photos/s")
    click.echo(f"b/a = {result['ratio_gates_over_naive']}   b/c = {result['ratio_gates_over_decode']}")
    agree = result["face_agreement"]
    click.echo(f"same dominant face (a) vs (b): {agree['same_face']}/{agree['photos']}")
    click.echo(f"{result['set']['photos']}-photo set, {result['set']['workers']} workers: {result['set']['wall_s']} s")


def _register_set_and_voice() -> None:
    """Attach the colleague-owned `set` and `voice` subcommands when their module is present."""
    try:
        from quality_gates._commands_setvoice import register
    except ImportError:
        return
    register(gates)


_register_set_and_voice()
