"""Releases: dataset deliveries to licensees, built only from contributors who consented to provision to third
parties, anonymized and verified before a compliance officer approves them; withdrawal lists afterwards.

* `ReleaseService` - draft, build (select, anonymize, package, sign, verify), approve, download
* `record_withdrawal` - what the withdrawal path calls: new signed withdrawal lists for affected releases
* `available_fields` / `ALLOW_LIST` - what a release may carry beside the media
* models: `Release`, `ReleaseSubject`, `ReleaseItem`, `WithdrawalListRecord`; errors in `collection.releases.errors`
"""

from collection.releases.errors import (
    ApprovalRefused,
    DeliveryRefused,
    NothingToRelease,
    ReleaseBuildFailed,
    ReleaseError,
    ReleaseRuleError,
    ReleaseStateError,
)
from collection.releases.fields import ALLOW_LIST, available_fields
from collection.releases.media import MediaAnonymizer, ReleasedPhoto, ReleaseMedia
from collection.releases.models import Release, ReleaseItem, ReleaseState, ReleaseSubject, WithdrawalListRecord
from collection.releases.service import ReleaseDraft, ReleaseService, ReleaseSettings
from collection.releases.withdrawals import record_withdrawal

__all__ = [
    "ALLOW_LIST",
    "ApprovalRefused",
    "DeliveryRefused",
    "MediaAnonymizer",
    "NothingToRelease",
    "Release",
    "ReleaseBuildFailed",
    "ReleaseDraft",
    "ReleaseError",
    "ReleaseItem",
    "ReleaseMedia",
    "ReleaseRuleError",
    "ReleaseService",
    "ReleaseSettings",
    "ReleaseState",
    "ReleaseStateError",
    "ReleaseSubject",
    "ReleasedPhoto",
    "WithdrawalListRecord",
    "available_fields",
    "record_withdrawal",
]
