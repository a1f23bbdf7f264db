"""Errors of the release workflow. They carry data, never HTTP codes; webapp maps them in one place (as every
`CollectionError`).

ReleaseError                  (a CollectionError)
├── ReleaseRuleError          a draft the rules refuse: a field the campaign does not collect, k < 1, no licensee
├── ReleaseStateError         the release's state does not allow the step (build twice, verify a draft...)
├── NothingToRelease          no accepted item of a contributor holding third-party-provision consent
├── ReleaseBuildFailed        the package could not be written; the partial output was removed
├── ApprovalRefused           approval asked before verification passed; `failures` lists what failed
└── DeliveryRefused           download refused (not approved, package missing, or withdrawals since the build)

Messages name releases by id, never a contributor. The refusals a person meets (ReleaseStateError, ApprovalRefused,
DeliveryRefused) also carry a stable `code` (and `count` where a number is named) so the web layer can say them in
its reader's language; the message is the English wording of the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from collection.errors import CollectionError


class ReleaseError(CollectionError):
    """Base of the release workflow's errors."""


class ReleaseRuleError(ReleaseError):
    """A draft that the rules refuse; `field` names the offending input."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class ReleaseStateError(ReleaseError):
    """The release `release_id` is in a state that does not allow the step (`code` says which, e.g.
    ``already_built``, ``not_built``, ``already_approved``)."""

    def __init__(self, release_id: str, problem: str, *, code: str = "") -> None:
        super().__init__(problem)
        self.release_id = release_id
        self.code = code


class NothingToRelease(ReleaseError):
    """No accepted item qualifies: `excluded` counts the contributors left out, by reason."""

    def __init__(self, release_id: str, excluded: Mapping[str, int]) -> None:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(excluded.items())) or "no accepted items"
        super().__init__(f"release {release_id}: nothing to release ({reasons})")
        self.release_id = release_id
        self.excluded = dict(excluded)


class ReleaseBuildFailed(ReleaseError):
    """Building `release_id` failed; nothing was left on disk. `code` names the step for the people who read it
    ("write_failed": writing or verifying the package, "store_failed": keeping it in the blob store,
    "data_changed": someone's data changed or was erased meanwhile, "target_exists": the asked-for path is
    taken); the message says it in words that are safe to show. `detail` (an underlying error, which may name
    files and blob keys) is for the server log only."""

    def __init__(self, release_id: str, public: str, code: str = "write_failed", detail: str = "") -> None:
        super().__init__(f"release {release_id} could not be built: {public}")
        self.release_id = release_id
        self.code = code
        self.detail = detail or public


class ApprovalRefused(ReleaseError):
    """Approval refused: `failures` are the stored verification failures (check, file, English detail and, in
    reports written since failures carry them, a stable code and its params), or a reason."""

    def __init__(
        self, release_id: str, reason: str, failures: Sequence[Mapping[str, Any]] = (), *, code: str = "",
        count: int = 0,
    ) -> None:
        listed = "; ".join(f"{f.get('check')}: {f.get('file') or '-'}: {f.get('detail')}" for f in failures[:20])
        more = f" (and {len(failures) - 20} more)" if len(failures) > 20 else ""
        super().__init__(
            f"release {release_id} cannot be approved: {reason}" + (f" - {listed}{more}" if listed else "")
        )
        self.release_id = release_id
        self.reason = reason
        self.code = code
        self.count = count
        self.failures = [dict(f) for f in failures]


class DeliveryRefused(ReleaseError):
    """The package of `release_id` cannot be handed out (`reason` says why)."""

    def __init__(self, release_id: str, reason: str, *, code: str = "", count: int = 0) -> None:
        super().__init__(f"release {release_id} cannot be downloaded: {reason}")
        self.release_id = release_id
        self.reason = reason
        self.code = code
        self.count = count
