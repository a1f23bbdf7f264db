"""Command-line forms of the set and voice gates, attached to the `gates` click group by `register(group)`.

    datadam gates set MANIFEST.csv --json [--rules RULES.json]
        MANIFEST.csv has columns path,bracket and optionally age_years; paths are relative to the manifest.
        Prints {"photos": [{"path", "bracket", "age_years", "identity": {"verdict", "score", ...},
        "error"}...], "consistent": bool, "age_mode", "distance_matrix"}.
    datadam gates voice PATH... --json [--rules RULES.json]
        Prints a JSON array, one object per file: {"path", "passed", "verdict", "gates": [{"name", "passed",
        "measured", "threshold", "reason", ...}...], "duration_s", "sample_rate"}. An undecodable file is a
        failed "decode" gate, not a crash.

Exit status 0 when every file was examined (whatever the verdicts), 1 when a listed file could not be read,
2 for a malformed manifest or rules file (click's usage error).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import click

from quality_gates._identity import IdentityRules, SetPhoto, check_set, encode_photo, parse_bracket
from quality_gates._report import GateResult, Verdict
from quality_gates._voice import DEFAULT_VOICE_RULES, VoiceReport, VoiceRules, check_voice_bytes
from quality_gates.errors import ImageDecodeError, RulesError

_READ_ERRORS = (OSError,)


def _load_rules_json(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"cannot read rules: {exc}", param_hint="--rules") from exc
    if not isinstance(data, dict):
        raise click.BadParameter("rules must be a JSON object", param_hint="--rules")
    return data


# --- set ----------------------------------------------------------------------------------------------------

def read_manifest(manifest: Path) -> list[dict[str, Any]]:
    """Rows of the manifest with parsed bracket and age; raises click.BadParameter naming the bad row."""
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise click.BadParameter(f"cannot read manifest: {exc}", param_hint="MANIFEST") from exc
    return [_manifest_row(row, number) for number, row in enumerate(rows, start=2)]


def _manifest_row(row: dict[str, Any], number: int) -> dict[str, Any]:
    path, bracket, age = (row.get(k) or "" for k in ("path", "bracket", "age_years"))
    if not path.strip() or not bracket.strip():
        raise click.BadParameter(f"line {number}: path and bracket are required", param_hint="MANIFEST")
    try:
        parsed = parse_bracket(bracket)
        age_years = float(age) if age.strip() else None
    except ValueError as exc:
        raise click.BadParameter(f"line {number}: {exc}", param_hint="MANIFEST") from exc
    return {"path": path.strip(), "bracket": bracket.strip(), "parsed": parsed, "age_years": age_years}


def _encode_entry(base: Path, entry: dict[str, Any]) -> tuple[SetPhoto, str | None, bool]:
    """(set photo, error code or None, whether the file could be read)."""
    try:
        data = (base / entry["path"]).read_bytes()
    except _READ_ERRORS:
        return SetPhoto(None, entry["parsed"], entry["age_years"]), "unreadable", False
    try:
        encoding = encode_photo(data)
    except ImageDecodeError as exc:
        return SetPhoto(None, entry["parsed"], entry["age_years"]), exc.code, True
    return SetPhoto(encoding, entry["parsed"], entry["age_years"]), None, True


def run_set(manifest: Path, rules: IdentityRules | None = None) -> tuple[dict[str, Any], bool]:
    """Check the set a manifest describes; returns (JSON-ready result, every file was read)."""
    entries = read_manifest(manifest)
    encoded = [_encode_entry(manifest.parent, e) for e in entries]
    report = check_set([photo for photo, _, _ in encoded], rules)
    summary = report.to_dict()
    photos = [
        {"path": e["path"], "bracket": e["bracket"], "age_years": e["age_years"], "identity": result,
         "error": error}
        for e, result, (_, error, _) in zip(entries, summary.pop("photos"), encoded, strict=True)
    ]
    return {"photos": photos, **summary}, all(ok for _, _, ok in encoded)


@click.command("set")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Identity thresholds as a JSON object (IdentityRules fields).")
def set_command(manifest: Path, as_json: bool, rules_path: Path | None) -> None:
    """Identity consistency of one contributor's photo set (MANIFEST.csv: path,bracket[,age_years])."""
    try:
        rules = IdentityRules.from_dict(_load_rules_json(rules_path)) if rules_path else None
    except RulesError as exc:
        raise click.BadParameter(str(exc), param_hint="--rules") from exc
    result, all_read = run_set(manifest, rules)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        for photo in result["photos"]:
            ident = photo["identity"]
            click.echo(f"{ident['verdict']:<7} {_fmt(ident['score'])}  {photo['bracket']:<8} {photo['path']}")
        click.echo(f"consistent: {'yes' if result['consistent'] else 'no'}")
    if not all_read:
        raise SystemExit(1)


def _fmt(score: float | None) -> str:
    return "  -  " if score is None else f"{score:.3f}"


# --- voice --------------------------------------------------------------------------------------------------

def run_voice(paths: tuple[Path, ...],
              rules: VoiceRules = DEFAULT_VOICE_RULES) -> tuple[list[dict[str, Any]], bool]:
    """Voice gates for each file; returns (JSON-ready results, every file was read)."""
    results, all_read = [], True
    for path in paths:
        try:
            data = path.read_bytes()
        except _READ_ERRORS:
            all_read = False
            report = VoiceReport(Verdict.FAIL, (GateResult.fail("decode", "unreadable"),))
        else:
            report = check_voice_bytes(data, rules)
        results.append({"path": str(path), **report.to_dict()})
    return results, all_read


@click.command("voice")
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the results as a JSON array.")
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Voice thresholds as a JSON object (VoiceRules fields).")
def voice_command(paths: tuple[Path, ...], as_json: bool, rules_path: Path | None) -> None:
    """Voice gates (decode, duration, sample rate, clipping, SNR, speech ratio, silence) per recording."""
    try:
        rules = VoiceRules.from_dict(_load_rules_json(rules_path))
    except RulesError as exc:
        raise click.BadParameter(str(exc), param_hint="--rules") from exc
    results, all_read = run_voice(paths, rules)
    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        for item in results:
            stopped = [f"{g['name']}:{g['reason']}" for g in item["gates"] if not g["passed"]]
            click.echo(f"{item['verdict']:<7} {item['path']}  {' '.join(stopped)}")
    if not all_read:
        raise SystemExit(1)


def register(group: click.Group) -> None:
    """Attach `set` and `voice` to the `gates` command group."""
    group.add_command(set_command)
    group.add_command(voice_command)
