"""Side effects after commit: a service that must delete blobs, hand jobs to workers or notify someone registers
a callback that runs only once the session's outermost transaction commits, and is dropped on rollback (STYLE
rule 5). One mechanism for every such effect; `on_commit_batched` gathers items under a key so that, for
example, every job id a transaction wrote reaches its queue backend in one hand-over.

Items registered inside a savepoint that is later rolled back still run; their handlers must cope with rows that
are not there (a job runner that finds no row does nothing)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

logger = logging.getLogger(__name__)
_KEY = "collection.after_commit"
_BATCHES = "collection.after_commit.batches"


def on_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback()` after the outermost commit of `session`; forget it on rollback or close."""
    session.info.setdefault(_KEY, []).append(callback)
    _listen(session)


def on_commit_batched(session: Session, key: Hashable, item: Any, flush: Callable[[list[Any]], None]) -> None:
    """Gather `item` under `key`; after the commit, `flush(items)` runs once per key with every item gathered."""
    batches: dict[Hashable, tuple[Callable[[list[Any]], None], list[Any]]] = session.info.setdefault(_BATCHES, {})
    batches.setdefault(key, (flush, []))[1].append(item)
    _listen(session)


def _listen(session: Session) -> None:
    if not event.contains(session, "after_commit", _run):
        event.listen(session, "after_commit", _run)
        event.listen(session, "after_transaction_end", _forget)


def _run(session: Session) -> None:
    callbacks: list[Callable[[], None]] = session.info.pop(_KEY, [])
    batches = session.info.pop(_BATCHES, {})
    callbacks += [lambda flush=flush, items=items: flush(items) for flush, items in batches.values()]
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001 - the commit stands; a failed effect is logged and swept later
            logger.exception("after-commit callback failed")


def _forget(session: Session, transaction: SessionTransaction) -> None:
    # Runs after `after_commit` (which already took everything), or after a rollback or close: drop it all.
    if transaction.parent is None and not transaction.nested:
        session.info.pop(_KEY, None)
        session.info.pop(_BATCHES, None)
