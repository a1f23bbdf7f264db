"""Evaluation of the voice gates on recordings laid out like ../shared/data.

Protocol (issue 5):
- Clean speech pass rate on `fsdd` and `hyke` (every file listed in their labels.csv). hyke's README says
  about 30% of its calls carry background noise but its labels.csv does not say which; when a labels column
  whose name starts with "noise" or "background" exists, rows with a true value there count as noisy instead.
- `noisy_speech`: real recordings (kind "real_recording") must be rejected or flagged (fail or review);
  synthetic mixes are reported with their stated SNR.
- Clipping (`audio_stats.csv`, column prefix "clipped_sample_fraction"): the clipping gate must fail where the
  file has >= 0.1% clipped samples and pass where it has none (files in between are not scored).

Only the documented label files and the paths they list are read. A listed file that is missing (or a blank
row) is left out and counted as `unreadable`; a file that exists but cannot be decoded is scored like any
upload (a failed `decode` gate).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from quality_gates._eval_sets import unreadable_summary, usable_rows
from quality_gates._voice import DEFAULT_VOICE_RULES, VoiceReport, VoiceRules, check_voice_bytes

CLIPPED_AT_LEAST = 0.001
CLEAN_SETS = ("fsdd", "hyke")
_TRUE = {"1", "true", "yes", "y", "noise", "noisy"}


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _column(row: dict[str, str], *prefixes: str) -> str | None:
    """Value of the first column whose name starts with one of `prefixes` (None when there is none)."""
    for key, value in row.items():
        if key and key.strip().lower().startswith(prefixes):
            return (value or "").strip()
    return None


def _check(data_dir: Path, rel: str, rules: VoiceRules) -> VoiceReport:
    return check_voice_bytes((data_dir / rel).read_bytes(), rules)


def _share(values: Sequence[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _failures(reports: Iterable[VoiceReport]) -> dict[str, int]:
    """How often each gate:reason stopped a recording."""
    counts: Counter[str] = Counter()
    for report in reports:
        counts.update(f"{g.name}:{g.reason}" for g in report.gates if not g.passed)
    return dict(sorted(counts.items()))


def evaluate_clean_set(data_dir: Path, name: str, rules: VoiceRules) -> dict[str, Any] | None:
    rows = _rows(data_dir / name / "labels.csv")
    if not rows:
        return None
    clean: list[VoiceReport] = []
    noisy: list[VoiceReport] = []
    skipped: list[str] = []
    for row in usable_rows(data_dir, rows, ("path",), skipped=skipped):
        flag = _column(row, "noise", "background")
        report = _check(data_dir, row["path"], rules)
        (noisy if flag is not None and flag.lower() in _TRUE else clean).append(report)
    out: dict[str, Any] = {
        "clean_files": len(clean),
        "clean_pass_rate": _share([r.passed for r in clean]),
        "clean_review_rate": _share([r.needs_review for r in clean]),
        "failures": _failures(clean),
        **unreadable_summary(skipped),
    }
    if noisy:
        out["noisy_files"] = len(noisy)
        out["noisy_caught_rate"] = _share([not r.passed for r in noisy])
    return out


def evaluate_noisy(data_dir: Path, rules: VoiceRules) -> dict[str, Any] | None:
    rows = _rows(data_dir / "noisy_speech" / "labels.csv")
    if not rows:
        return None
    real: list[dict[str, Any]] = []
    synthetic: list[dict[str, Any]] = []
    skipped: list[str] = []
    for row in usable_rows(data_dir, rows, ("path",), skipped=skipped):
        report = _check(data_dir, row["path"], rules)
        kind = (_column(row, "kind") or "").lower()
        snr_gate = report.gate("snr")
        item = {"path": row["path"], "verdict": report.verdict.value,
                "snr_db": None if snr_gate is None else snr_gate.measured.get("snr_db"),
                "stated_snr_db": _column(row, "snr")}
        (real if kind.startswith("real") else synthetic).append(item)
    return {
        "real_recordings": len(real),
        "real_caught_rate": _share([r["verdict"] != "pass" for r in real]),
        "synthetic_mixes": len(synthetic),
        "synthetic_caught_rate": _share([r["verdict"] != "pass" for r in synthetic]),
        "files": real + synthetic,
        **unreadable_summary(skipped),
    }


def evaluate_clipping(data_dir: Path, rules: VoiceRules) -> dict[str, Any] | None:
    rows = _rows(data_dir / "audio_stats.csv")
    clipped: list[bool] = []
    unclipped: list[bool] = []
    for row in rows:
        value = _column(row, "clipped_sample_fraction")
        path = (row.get("path") or "").strip()
        if not value or not path or not (data_dir / path).is_file():
            continue
        try:
            fraction = float(value)
        except ValueError:
            continue
        if fraction >= CLIPPED_AT_LEAST or fraction == 0.0:
            gate = _check(data_dir, row["path"], rules).gate("clipping")
            flagged = gate is None or not gate.passed
            (clipped if fraction >= CLIPPED_AT_LEAST else unclipped).append(flagged)
    if not clipped and not unclipped:
        return None
    return {"clipped_files": len(clipped), "clipped_flagged_rate": _share(clipped),
            "unclipped_files": len(unclipped), "unclipped_false_flag_rate": _share(unclipped)}


def evaluate_voice(data_dir: Path | str, rules: VoiceRules = DEFAULT_VOICE_RULES) -> dict[str, Any]:
    """Every voice metric of the protocol on a folder laid out like ../shared/data (absent sets skipped)."""
    data_dir = Path(data_dir)
    out: dict[str, Any] = {}
    for name in CLEAN_SETS:
        result = evaluate_clean_set(data_dir, name, rules)
        if result is not None:
            out[name] = result
    for key, evaluate in (("noisy_speech", evaluate_noisy), ("clipping", evaluate_clipping)):
        result = evaluate(data_dir, rules)
        if result is not None:
            out[key] = result
    return out
