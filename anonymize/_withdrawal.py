"""Signed withdrawal lists: after a contributor withdraws, each affected release gets a new list of the
pseudonymous subject ids its licensees must delete.

A list is cumulative (it names every withdrawn subject of the release so far) and numbered: a licensee keeps
the highest `sequence` it has verified, so an old list cannot be replayed to hide a later withdrawal. The
document is JSON: the canonical statement, the key id and an Ed25519 signature over the statement.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from anonymize._manifest import SAFE_ID, canonical_json
from anonymize._signing import ALGORITHM, Signer, verify_signature
from anonymize.errors import ReleaseFormatError

WITHDRAWAL_FORMAT = "datadam-withdrawals/1"


@dataclass(frozen=True)
class WithdrawalList:
    """Subject ids (pseudonymous, as in the release manifest) whose items licensees must delete."""

    release_id: str
    sequence: int
    issued_at: str
    subject_ids: tuple[str, ...]

    def statement(self) -> dict[str, Any]:
        return {
            "format": WITHDRAWAL_FORMAT,
            "release_id": self.release_id,
            "sequence": self.sequence,
            "issued_at": self.issued_at,
            "subject_ids": sorted(set(self.subject_ids)),
        }


def sign_withdrawal_list(withdrawals: WithdrawalList, signer: Signer) -> bytes:
    """The signed JSON document for `withdrawals`. Raises `ReleaseFormatError` for malformed ids."""
    _check(withdrawals)
    statement = withdrawals.statement()
    document = {
        "algorithm": ALGORITHM,
        "key_id": signer.key_id,
        "statement": statement,
        "signature": base64.b64encode(signer.sign(canonical_json(statement))).decode("ascii"),
    }
    return canonical_json(document) + b"\n"


def read_withdrawal_list(document: bytes, public_keys: Mapping[str, bytes | str]) -> WithdrawalList:
    """Verify and parse a withdrawal list. Raises `ReleaseFormatError` (malformed) or `SignatureError`."""
    try:
        parsed = json.loads(document.decode("utf-8"))
        statement = parsed["statement"]
        signature = base64.b64decode(parsed["signature"], validate=True)
        key_id = str(parsed["key_id"])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, binascii.Error) as exc:
        raise ReleaseFormatError("withdrawal list", f"unreadable: {exc}") from exc
    verify_signature(public_keys, key_id, canonical_json(statement), signature)
    if not isinstance(statement, dict) or statement.get("format") != WITHDRAWAL_FORMAT:
        raise ReleaseFormatError("withdrawal list", "not a datadam-withdrawals/1 statement")
    withdrawals = WithdrawalList(
        str(statement["release_id"]),
        int(statement["sequence"]),
        str(statement["issued_at"]),
        tuple(str(s) for s in statement["subject_ids"]),
    )
    _check(withdrawals)
    return withdrawals


def _check(withdrawals: WithdrawalList) -> None:
    if withdrawals.sequence < 1:
        raise ReleaseFormatError("withdrawal list", "sequence must start at 1")
    bad = [s for s in withdrawals.subject_ids if not SAFE_ID.match(s)]
    if bad:
        raise ReleaseFormatError("withdrawal list", f"{len(bad)} malformed subject ids")
