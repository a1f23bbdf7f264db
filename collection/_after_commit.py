"""Side effects after commit: a service that must delete blobs or notify someone registers a callback that
runs only once the session's outermost transaction commits, and is dropped on rollback (STYLE rule 5)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

logger = logging.getLogger(__name__)
_KEY = "collection.after_commit"


def on_commit(session: Session, callback: Callable[[], None]) -> None:
    session.info.setdefault(_KEY, []).append(callback)
    if not event.contains(session, "after_commit", _run):
        event.listen(session, "after_commit", _run)
        event.listen(session, "after_transaction_end", _forget)


def _run(session: Session) -> None:
    for callback in session.info.pop(_KEY, []):
        try:
            callback()
        except Exception:  # noqa: BLE001 - the commit stands; a failed cleanup is logged and swept later
            logger.exception("after-commit callback failed")


def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and not transaction.nested:
        session.info.pop(_KEY, None)
