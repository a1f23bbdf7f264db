"""Carrying an operator's edits over to the next draft when the settings a notice states have changed.

A notice starts as a default text written from the campaign's settings (photo counts, payment, retention...);
operators then edit it: contacts, wording, optional uses of their own. When a setting changes, the next draft must
state the new figures without losing those edits. `carry_over` compares three notices - the default text for the
old settings, the default text for the new ones, and the operator's latest version - field by field and language
by language:

* a field the setting change does not touch keeps whatever the operator wrote (contacts, custom matters...);
* a field the operator left as the default takes the new default (`UpdateKind.REPLACED`);
* a field the operator edited has only the changed figures replaced in their wording, when each changed passage
  of the default occurs exactly once in it (`UpdateKind.ADJUSTED`);
* otherwise the operator's text is kept unchanged and reported for a check (`UpdateKind.CHECK`): it may still
  state the old figures, and only a person can say how to reword it.

Pure: notices in, a notice and the list of updates out.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from consent.notice import Notice, notice_from_dict, notice_to_dict

# Fields that are the notice's own bookkeeping, not text the settings write.
_NOT_TEXT = frozenset({"schema", "campaign", "version", "wording", "jurisdictions", "collects_voice", "id", "kind"})
# Numbers (with their separators) are tokens of their own, so "730일까지" changes as "730" -> "365".
_TOKEN = re.compile(r"\d[\d,.]*\d|\d|[^\W\d_]+|_|\s+|[^\w\s]")


class UpdateKind(StrEnum):
    REPLACED = "replaced"  # the operator had not edited it: the default text for the new settings
    ADJUSTED = "adjusted"  # the operator's wording, with the changed figures replaced
    CHECK = "check"  # edited in a way the change could not be applied to: kept as written, to be checked


@dataclass(frozen=True)
class FieldUpdate:
    """What happened to one field (`path` as `missing_items` names it) in one language (None: language-neutral)."""

    path: str
    language: str | None
    kind: UpdateKind
    suggestion: str = ""  # for CHECK: the default text for the new settings


def carry_over(current: Notice, old_default: Notice, new_default: Notice) -> tuple[Notice, tuple[FieldUpdate, ...]]:
    """`current` updated for the settings `new_default` was written for, keeping its edits (see the module
    docstring). Matters are matched by id; matters of `current` that no default has (custom uses) are kept as
    they are. Raises NoticeFormatError if the result is not a valid notice (it cannot be, from valid inputs)."""
    updates: list[FieldUpdate] = []
    merged = _merge(notice_to_dict(current), notice_to_dict(old_default), notice_to_dict(new_default), "", updates)
    return notice_from_dict(merged), tuple(updates)


def _merge(cur: Any, old: Any, new: Any, path: str, updates: list[FieldUpdate]) -> Any:
    if isinstance(cur, Mapping) and set(cur) == {"ko", "en"} and isinstance(old, Mapping) and isinstance(new, Mapping):
        return {lang: _merge_text(cur[lang], old.get(lang), new.get(lang), path, lang, updates) for lang in cur}
    if isinstance(cur, Mapping) and isinstance(old, Mapping) and isinstance(new, Mapping):
        merged = {}
        for key, value in cur.items():
            sub = f"{path}.{key}" if path else key
            if key in _NOT_TEXT or key not in old or key not in new:
                merged[key] = value
            elif key == "matters":
                merged[key] = _merge_matters(value, old[key], new[key], updates)
            else:
                merged[key] = _merge(value, old[key], new[key], sub, updates)
        return merged
    if isinstance(cur, list | str) and type(old) is type(cur) and type(new) is type(cur):
        if old == new or cur == new:
            return cur
        if cur == old:
            updates.append(FieldUpdate(path, None, UpdateKind.REPLACED))
            return new
        updates.append(FieldUpdate(path, None, UpdateKind.CHECK, _plain(new)))
    return cur


def _merge_matters(cur: list[Any], old: list[Any], new: list[Any], updates: list[FieldUpdate]) -> list[Any]:
    old_by_id, new_by_id = {m["id"]: m for m in old}, {m["id"]: m for m in new}
    merged = []
    for matter in cur:
        mid = matter["id"]
        if mid in old_by_id and mid in new_by_id and old_by_id[mid]["kind"] == matter["kind"]:
            matter = _merge(matter, old_by_id[mid], new_by_id[mid], f"matters.{mid}", updates)
        merged.append(matter)
    return merged


def _merge_text(cur: str, old: str | None, new: str | None, path: str, lang: str, updates: list[FieldUpdate]) -> str:
    if old is None or new is None or old == new or cur == new:
        return cur
    if cur == old:
        updates.append(FieldUpdate(path, lang, UpdateKind.REPLACED))
        return new
    adjusted = adjust_wording(cur, old, new)
    if adjusted is None:
        updates.append(FieldUpdate(path, lang, UpdateKind.CHECK, new))
        return cur
    updates.append(FieldUpdate(path, lang, UpdateKind.ADJUSTED))
    return adjusted


def adjust_wording(text: str, old: str, new: str) -> str | None:
    """`text` with each passage that differs between `old` and `new` replaced as `new` has it, or None when a
    passage - by itself, and with one neighbouring token on each side - does not occur exactly once (a figure
    the text states twice is never half updated)."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    result = text
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        lo, hi = max(i1 - 1, 0), min(i2 + 1, len(a))
        before = "".join(a[lo:hi])
        after = "".join(a[lo:i1]) + "".join(b[j1:j2]) + "".join(a[i2:hi])
        core = "".join(a[i1:i2])
        if not before.strip() or result.count(before) != 1 or (core.strip() and result.count(core) != 1):
            return None
        result = result.replace(before, after)
    return result


def _plain(value: Any) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)
