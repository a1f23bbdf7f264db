"""A line of a report that the web layer words in its reader's language: the English sentence itself (what the
CLI and JSON show), plus a stable `code` and its `params`. The conformance report and the audit log's
verification speak in these; `webapp.conformance_words` words them by code."""

from __future__ import annotations

from typing import Any


class Said(str):
    """An evidence or problem line: the English sentence, its stable `code` and the values it names."""

    code: str
    params: dict[str, Any]

    def __new__(cls, code: str, text: str, **params: Any) -> Said:
        line = super().__new__(cls, text)
        line.code, line.params = code, params
        return line

    def __reduce__(self) -> tuple[Any, ...]:  # copy and pickle rebuild it with its code and numbers
        return _said, (self.code, str(self), self.params)


def _said(code: str, text: str, params: dict[str, Any]) -> Said:
    return Said(code, text, **params)
