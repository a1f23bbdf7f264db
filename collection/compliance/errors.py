"""Errors raised by the compliance services. They carry data, never HTTP codes; webapp maps them (as every
`CollectionError`) in one place.

ComplianceError (a CollectionError)
├── RightsRequestError       a rights-request step the rules refuse (`code`: not_enrolled | already_open |
│                            invalid_state; `detail` explains)
├── AccessReviewError        a sign-off the rules refuse: the month is not over, or was already signed off
└── CorrectionRefused        a correction of a contributor's data the rules refuse (`field`, `reason`)

Messages hold pseudonymous ids and months only.
"""

from __future__ import annotations

from collection.errors import CollectionError


class ComplianceError(CollectionError):
    """Base of the compliance errors."""


class RightsRequestError(ComplianceError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class AccessReviewError(ComplianceError):
    """`code` is not_over | already_signed_off | report_changed."""

    def __init__(self, month: str, code: str, detail: str) -> None:
        super().__init__(f"{month}: {detail}")
        self.month = month
        self.code = code
        self.detail = detail


class CorrectionRefused(ComplianceError):
    """A correction the rules refuse. `field` is display_name | birth_date | photo_age | request; `reason` is
    empty | too_long | future | too_old | outside_campaign_ages | needs_guardian | not_found | outside_bracket |
    above_own_age | erased | invalid_state;
    `data` holds the limits to tell the officer (numbers and dates, never the values typed)."""

    def __init__(self, field: str, reason: str, **data: object) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.data = data
