"""Withdrawing consent: the ONE function every withdrawal goes through, whatever page or command starts it.

Withdrawal (GDPR Art. 7(3), PIPA Art. 37) is a new signed consent event referencing the receipt it withdraws;
nothing is edited. Its effects on the contributor's data belong here, in one place, so that no caller can
record a withdrawal and forget an effect:

1. the signed withdrawal event (`ConsentService.withdraw`), which at once takes the withdrawn matters out of
   `ConsentService.active_kinds` - the gate every processing step (gate jobs skip), review (refused) and
   release build asks before touching the contributor's data - and an audit event (pseudonymous ids only);
2. every release already holding the person's items gets a new signed withdrawal list when the provision to
   third parties is no longer in force (`collection.releases.withdrawals.record_withdrawal`);
3. when a matter required for holding the data is withdrawn (`WithdrawalOutcome.erasure_due`), the erasure path
   (destroy the enrollment's data key, delete rows and derived data, ledger it; blobs after the commit);
4. when only the voice matter is withdrawn, the recordings alone are erased (`ErasureService.erase_voice`: clip
   rows now, every version's blob after the commit, a ledger row), as the signed notice promises.

The caller commits; side effects outside the database (deleting files) run after the commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from collection.accounts.models import User
from collection.audit.log import Actor, AuditLog
from collection.contributions.models import Enrollment, EnrollmentState, current_enrollment
from collection.erasure.service import ErasureService
from consent.models import ConsentRecord
from consent.notice import MatterKind
from consent.service import ConsentService

_REQUIRED = {MatterKind.COLLECTION_AND_USE, MatterKind.SENSITIVE_INFORMATION}


@dataclass(frozen=True)
class WithdrawalOutcome:
    """What a withdrawal did: the new signed record, the matters withdrawn and their kinds, and whether the
    data may no longer be held (a required matter was withdrawn), which makes erasure due."""

    record: ConsentRecord
    withdrawn: tuple[str, ...]
    withdrawn_kinds: frozenset[MatterKind]
    erasure_due: bool


def withdrawal_erases(consent: ConsentService, subject_id: str, campaign_id: str,
                      matter_ids: Iterable[str] | None = None) -> bool:
    """Whether withdrawing `matter_ids` (every matter when None) would end a required consent, so that the
    contributor's photos and recordings in the campaign are erased (what `withdraw_consent` would do)."""
    return bool(consent.kinds_stopped_by(subject_id, campaign_id, matter_ids) & _REQUIRED)


def withdraw_consent(
    consent: ConsentService,
    subject_id: str,
    campaign_id: str,
    matter_ids: Iterable[str] | None = None,
    ip_hash: str | None = None,
    *,
    erasure: ErasureService | None,
) -> WithdrawalOutcome:
    """Withdraw `matter_ids` (every consented matter when None) of `subject_id` in `campaign_id`.

    `erasure` must be given wherever data may exist; None only where no contribution can exist (consent-only
    tests). Flushes, never commits. Raises ConsentStateError when nothing named is in force.
    """
    before = consent.active_kinds(subject_id, campaign_id)
    record = consent.withdraw(subject_id, campaign_id, matter_ids, ip_hash=ip_hash)
    previous = consent.record(record.withdraws_record_id or "")
    earlier = previous.decisions if previous is not None else {}
    withdrawn = tuple(sorted(m for m, on in earlier.items() if on and not record.decisions.get(m, False)))
    kinds = frozenset(before - consent.active_kinds(subject_id, campaign_id))
    outcome = WithdrawalOutcome(record, withdrawn, kinds, erasure_due=bool(kinds & _REQUIRED))
    AuditLog(consent.session, consent.clock).record(
        Actor(subject_id, "contributor"),
        "consent.withdrawn",
        "consent_record",
        record.id,
        campaign_id=campaign_id,
        matters=list(withdrawn),
        erasure_due=outcome.erasure_due,
    )
    from collection.releases.withdrawals import record_withdrawal

    record_withdrawal(consent, subject_id, campaign_id)
    enrollment = _enrollment(consent, subject_id, campaign_id) if erasure is not None else None
    if erasure is None or enrollment is None or enrollment.state is EnrollmentState.ERASED:
        return outcome
    actor = Actor(subject_id, "contributor")
    if outcome.erasure_due:
        erasure.erase_enrollment(enrollment, "withdrawal", actor)
    elif MatterKind.VOICE_RECORDING in kinds:
        erasure.erase_voice(enrollment, actor)
    return outcome


def _enrollment(consent: ConsentService, subject_id: str, campaign_id: str) -> Enrollment | None:
    user = consent.session.scalar(select(User).where(User.subject_id == subject_id))
    if user is None:
        return None
    return current_enrollment(consent.session, user.id, campaign_id)
