"""Tamper evidence for the audit log.

Events get their final `position` from the sequencer (one writer at a time), which never changes afterwards.
A checkpoint is the RFC 6962 tree head of the first `size` events (size, root, time), signed with the
installation's Ed25519 audit key and written as a read-only file to a folder the application only ever creates
files in (configure it on write-once storage, or copy the files off the machine; the compliance officer can
download them). The audit public keys are written beside them, so the verifier needs nothing from the database
it is checking. `verify` recomputes every leaf from the event's content and every checkpointed root:

- an edited event no longer matches its leaf hash (named by position);
- a deleted event leaves a gap in the positions (named);
- a truncated tail, or an old backup restored, makes the log shorter than the newest checkpoint;
- reordered events, or a log rewritten wholesale with fresh leaf hashes, no longer give the checkpointed roots.

On PostgreSQL and SQLite a trigger refuses UPDATE and DELETE of audit rows (except the sequencer's one-time
setting of `position`), so even a bug in the application cannot rewrite history; the checkpoints catch whoever
bypasses the trigger.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from collection.audit.log import leaf_hash
from collection.audit.merkle import root_hex
from collection.audit.models import AuditEvent
from collection.said import Said
from consent.canonical import b64url_decode, b64url_encode, canonical_json
from consent.clock import Clock
from consent.keys import PURPOSE_AUDIT, parse_public_key_document, public_key_document
from consent.service import KeyStore

CHECKPOINT_SCHEMA = "datadam/audit-checkpoint/1"
KEYS_FILE = "audit-keys.json"


def sequence(session: Session) -> int:
    """Give every committed, unpositioned event its position (ordered by time, then id). Returns the log size."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7305501)"))  # one sequencer at a time
    size = session.scalar(select(func.max(AuditEvent.position))) or 0
    pending = session.scalars(
        select(AuditEvent).where(AuditEvent.position.is_(None)).order_by(AuditEvent.at, AuditEvent.id)
    )
    for event in pending:
        size += 1
        event.position = size
    session.flush()
    return size


@dataclass(frozen=True)
class Checkpoint:
    size: int
    root: str
    time: str
    kid: str
    signature: str

    def body(self) -> dict[str, object]:
        return {"schema": CHECKPOINT_SCHEMA, "size": self.size, "root": self.root, "time": self.time, "kid": self.kid}


class CheckpointWriter:
    def __init__(self, session: Session, clock: Clock, keys: KeyStore, folder: Path) -> None:
        self.session = session
        self.clock = clock
        self.keys = keys
        self.folder = folder

    def write(self) -> Checkpoint:
        """Sequence pending events, then sign and write a checkpoint of the whole log."""
        size = sequence(self.session)
        leaves = list(self.session.scalars(select(AuditEvent.leaf_hash).order_by(AuditEvent.position)))
        ring = self.keys.ensure(PURPOSE_AUDIT)
        key = ring.current(PURPOSE_AUDIT)
        now = ring.now()
        body = {
            "schema": CHECKPOINT_SCHEMA,
            "size": size,
            "root": root_hex(leaves),
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "kid": key.kid,
        }
        signature = ring.sign(canonical_json(body), kid=key.kid, at=now)
        checkpoint = Checkpoint(size, body["root"], body["time"], key.kid, b64url_encode(signature))  # type: ignore[arg-type]
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_once(
            self.folder / f"checkpoint-{size:012d}-{now:%Y%m%dT%H%M%S}.json",
            canonical_json({**body, "signature": checkpoint.signature}),
        )
        keys_doc = canonical_json(public_key_document(ring.public_keys([PURPOSE_AUDIT]).keys))
        keys_path = self.folder / KEYS_FILE
        if not keys_path.exists() or keys_path.read_bytes() != keys_doc:
            _replace_read_only(keys_path, keys_doc)
        return checkpoint


def _write_once(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _replace_read_only(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o444)
    os.replace(tmp, path)


@dataclass
class AuditReport:
    ok: bool = True
    size: int = 0
    pending: int = 0
    checkpoints: int = 0
    problems: list[Said] = field(default_factory=list)
    first_bad_position: int | None = None
    _precise: bool = False

    def fail(self, message: Said, position: int | None = None, precise: bool = True) -> None:
        """Record a problem (English, with a code the web layer words). A precise position (this very event) wins
        over a range start from a checkpoint."""
        self.ok = False
        self.problems.append(message)
        if position is None or (self._precise and not precise):
            return
        if (precise and not self._precise) or self.first_bad_position is None or position < self.first_bad_position:
            self.first_bad_position = position
            self._precise = self._precise or precise


def load_checkpoints(folder: Path) -> list[dict[str, object]]:
    """The checkpoint files in `folder`, oldest name first; none for a missing folder (`verify` refuses that)."""
    if not folder.is_dir():
        return []
    return [json.loads(p.read_bytes()) for p in sorted(folder.glob("checkpoint-*.json"))]


def verify(session: Session, folder: Path | None) -> AuditReport:
    """Recompute everything (see the module docstring). Never trusts the database for keys or roots.

    With `folder` None only the events' own hashes and positions are checked. Given a folder, it must exist and,
    unless the log is empty, hold at least one checkpoint: otherwise the report fails."""
    report = AuditReport()
    events = list(
        session.scalars(select(AuditEvent).where(AuditEvent.position.is_not(None)).order_by(AuditEvent.position))
    )
    report.pending = session.scalar(select(func.count()).where(AuditEvent.position.is_(None))) or 0
    report.size = len(events)
    leaves: list[str] = []
    for expected, event in enumerate(events, 1):
        if event.position != expected:
            report.fail(Said("event_deleted", f"event at position {expected} is missing (next is {event.position}):"
                             " deleted", position=expected, next=event.position), expected)
            break
        recomputed = leaf_hash(event)
        if recomputed != event.leaf_hash:
            report.fail(Said("event_edited", f"event {event.id} at position {expected} was edited (its content no"
                             " longer matches)", event=event.id, position=expected), expected)
        leaves.append(recomputed)
    if folder is not None:
        _verify_checkpoints(folder, leaves, report)
    return report


def _verify_checkpoints(folder: Path, leaves: list[str], report: AuditReport) -> None:
    # Without checkpoints a rewritten log or a restored old backup verifies by its own hashes alone, so a folder
    # that is missing (a mistyped path, a wrong setting) or holds none while events exist fails loudly.
    if not folder.is_dir():
        report.fail(Said("checkpoint_folder_missing", f"checkpoint folder {folder} does not exist: check the path;"
                         " `datadam audit checkpoint` creates it", folder=str(folder)))
        return
    keys_path = folder / KEYS_FILE
    checkpoints = load_checkpoints(folder)
    report.checkpoints = len(checkpoints)
    if not checkpoints and report.size + report.pending > 0:
        events = report.size + report.pending
        report.fail(Said(
            "checkpoints_absent",
            f"no signed checkpoint in {folder} although the log holds {events} events: checkpoints were deleted or"
            " this is the wrong folder (a new installation: run `datadam audit checkpoint`)",
            folder=str(folder), events=events,
        ))
        return
    if checkpoints and not keys_path.exists():
        report.fail(Said("keys_file_missing", f"{KEYS_FILE} is missing beside the checkpoints", file=KEYS_FILE))
        return
    keys = parse_public_key_document(keys_path.read_bytes()) if checkpoints else None
    good = 0  # the largest checkpointed prefix that still holds: the first bad event lies after it
    for cp in sorted(checkpoints, key=lambda c: int(c["size"])):  # type: ignore[call-overload]
        size, name = int(cp["size"]), f"checkpoint of size {cp['size']} at {cp['time']}"  # type: ignore[call-overload]
        which = {"size": size, "time": str(cp["time"])}
        body = {k: cp[k] for k in ("schema", "size", "root", "time", "kid")}
        key = keys.find(str(cp["kid"])) if keys else None
        moment = dt.datetime.strptime(str(cp["time"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        if (
            key is None
            or not key.covers(moment)
            or not key.verify(canonical_json(body), b64url_decode(str(cp["signature"])))
        ):
            report.fail(Said("checkpoint_bad_signature", f"{name}: bad signature or unknown key", **which))
            continue
        if size > len(leaves):
            report.fail(
                Said("checkpoint_log_shorter", f"{name}: the log has only {len(leaves)} events: truncated, or restored"
                     " from an older backup", events=len(leaves), **which),
                len(leaves) + 1,
                precise=False,
            )
            continue
        if root_hex(leaves[:size]) != cp["root"]:
            report.fail(
                Said("checkpoint_root_mismatch", f"{name}: the first {size} events no longer give the signed root: an"
                     f" event between positions {good + 1} and {size} was reordered, deleted or rewritten",
                     first=good + 1, **which),
                good + 1,
                precise=False,
            )
        else:
            good = size
