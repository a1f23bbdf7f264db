"""Refresh the Korean catalogue: extract messages, merge them into ko/messages.po, fill translations from the
JSON files given ({"English msgid": "한국어"}), compile, and list what is still untranslated.

    .venv/bin/python scripts/i18n.py [translations.json ...]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "webapp" / "translations"
PO = TRANSLATIONS / "ko" / "LC_MESSAGES" / "messages.po"
BIN = Path(sys.executable).parent


def main(sources: list[str]) -> int:
    pot = TRANSLATIONS / "messages.pot"
    run = [str(BIN / "pybabel")]
    subprocess.run([*run, "extract", "-F", "babel.cfg", "-k", "_l", "--no-location", "--omit-header", "-o",
                    str(pot), "."], cwd=ROOT, check=True, capture_output=True)
    subprocess.run([*run, "update", "-i", str(pot), "-d", str(TRANSLATIONS), "--no-fuzzy-matching",
                    "--ignore-obsolete", "--omit-header"], cwd=ROOT, check=True, capture_output=True)
    table: dict[str, str] = {}
    for source in sources:
        table.update(json.loads(Path(source).read_text(encoding="utf-8")))
    with PO.open("rb") as fh:
        catalog = read_po(fh, locale="ko")
    missing = []
    for message in catalog:
        key = message.id if isinstance(message.id, str) else (message.id[0] if message.id else "")
        if not key:
            continue
        if key in table:
            message.string = table[key]
            message.flags.discard("fuzzy")
        elif not message.string:
            missing.append(key)
    catalog.fuzzy = False  # a fuzzy header makes pybabel compile skip the whole catalogue
    with PO.open("wb") as fh:
        write_po(fh, catalog, width=120, omit_header=False, no_location=True)
    subprocess.run([*run, "compile", "-d", str(TRANSLATIONS)], cwd=ROOT, check=True, capture_output=True)
    for key in missing:
        print(f"untranslated: {key!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
