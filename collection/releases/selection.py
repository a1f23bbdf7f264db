"""Which items a release may hold, decided at build time.

An item qualifies when it is accepted (a photo an operator accepted, in a set that is accepted or paid; with
voice included, a recording of such a set that passed its checks) AND its contributor, right now, holds the
third-party-provision consent together with the two required matters (and voice recording for recordings).
Contributors who withdrew, were erased or never agreed to provision are left out and only counted, by reason.

Only ids and the few columns the build needs are loaded (never the gate reports), so a large campaign's
selection stays small in memory.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from collection.accounts.models import User
from collection.contributions.models import (
    Enrollment,
    EnrollmentState,
    Photo,
    PhotoSet,
    PhotoState,
    SetState,
    VoiceClip,
)
from consent.models import ConsentRecord, NoticeVersion
from consent.notice import MatterKind
from consent.receipts import EventType
from consent.service import ConsentService

RELEASABLE_SET_STATES = (SetState.ACCEPTED, SetState.PAID)
RELEASABLE_CLIP_STATES = (PhotoState.PASSED, PhotoState.ACCEPTED)
NEEDED = frozenset({MatterKind.COLLECTION_AND_USE, MatterKind.SENSITIVE_INFORMATION, MatterKind.THIRD_PARTY_PROVISION})


@dataclass(frozen=True)
class StoredItem:
    """One stored object to release: where its sealed bytes are and what the side table may say about it."""

    kind: str  # photo | voice
    object_id: str
    blob_key: str
    version: int
    bracket: str = ""
    encoding_key: str | None = None


@dataclass(frozen=True)
class Contributor:
    """A contributor whose items qualify, with the consent record the release rests on."""

    subject_id: str
    keyholder: str  # the enrollment id: the contributor's data key for this campaign
    receipt_id: str
    consent_version: str
    items: tuple[StoredItem, ...]


@dataclass(frozen=True)
class Selection:
    contributors: tuple[Contributor, ...]
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> contributors left out

    @property
    def item_count(self) -> int:
        return sum(len(c.items) for c in self.contributors)


def select_items(session: Session, consent: ConsentService, campaign_id: str, include_voice: bool) -> Selection:
    """The qualifying contributors of `campaign_id` and their items, ordered by set id then object id."""
    sets = session.scalars(
        select(PhotoSet)
        .where(PhotoSet.campaign_id == campaign_id, PhotoSet.state.in_(RELEASABLE_SET_STATES))
        .order_by(PhotoSet.id)
    )
    chosen: list[Contributor] = []
    excluded: Counter[str] = Counter()
    for photo_set in sets:
        reason, contributor = _contributor(session, consent, photo_set, include_voice)
        if contributor is None:
            excluded[reason] += 1
        else:
            chosen.append(contributor)
    return Selection(tuple(chosen), dict(excluded))


def _contributor(
    session: Session, consent: ConsentService, photo_set: PhotoSet, include_voice: bool
) -> tuple[str, Contributor | None]:
    user = session.get(User, photo_set.user_id)
    if user is None or user.erased_at is not None:
        return "erased", None
    enrollment = session.get(Enrollment, photo_set.enrollment_id)
    if enrollment is None or enrollment.state is not EnrollmentState.ACTIVE:
        return "enrollment_withdrawn", None
    from collection.compliance.suspension import is_suspended

    if is_suspended(session, enrollment.id):
        return "processing_suspended", None
    kinds = consent.active_kinds(user.subject_id, photo_set.campaign_id)
    record = consent.latest_record(user.subject_id, photo_set.campaign_id)
    if record is None or not NEEDED <= kinds:
        withdrawn = record is not None and record.event == EventType.WITHDRAWN.value
        return ("consent_withdrawn" if withdrawn else "no_third_party_consent"), None
    items = _photos(session, photo_set)
    if include_voice and MatterKind.VOICE_RECORDING in kinds:
        items += _clips(session, photo_set)
    if not items:
        return "no_accepted_items", None
    return "", Contributor(user.subject_id, photo_set.enrollment_id, record.id, _version(session, record), items)


@dataclass(frozen=True)
class Recheck:
    """What changed for a selection's contributors while a build ran (subject ids).

    `withdrew`: no longer hold the consent a release rests on; their items may stay in the package, and they go
    on its withdrawal list at once (approval then refuses). `gone`: erased, enrollment withdrawn, processing
    suspended, or an item no longer qualifies (replaced, rejected, the voice matter withdrawn): the package
    holds data that may not go out at all, so it must not be recorded."""

    withdrew: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()


_CONSENT_REASONS = frozenset({"consent_withdrawn", "no_third_party_consent"})


def recheck(session: Session, consent: ConsentService, selection: Selection, include_voice: bool) -> Recheck:
    """Re-apply the selection's rules to `selection`'s contributors now (see `Recheck`)."""
    withdrew: list[str] = []
    gone: list[str] = []
    for contributor in selection.contributors:
        photo_set = session.scalar(select(PhotoSet).where(PhotoSet.enrollment_id == contributor.keyholder))
        reason, now = "erased", None
        if photo_set is not None and photo_set.state in RELEASABLE_SET_STATES:
            reason, now = _contributor(session, consent, photo_set, include_voice)
        if now is not None and set(contributor.items) <= set(now.items):
            continue
        (withdrew if reason in _CONSENT_REASONS else gone).append(contributor.subject_id)
    return Recheck(tuple(withdrew), tuple(gone))


def _photos(session: Session, photo_set: PhotoSet) -> tuple[StoredItem, ...]:
    rows = session.execute(
        select(Photo.id, Photo.blob_key, Photo.version, Photo.bracket, Photo.encoding_key)
        .where(Photo.set_id == photo_set.id, Photo.state == PhotoState.ACCEPTED)
        .order_by(Photo.id)
    )
    return tuple(StoredItem("photo", r.id, r.blob_key, r.version, r.bracket, r.encoding_key) for r in rows)


def _clips(session: Session, photo_set: PhotoSet) -> tuple[StoredItem, ...]:
    rows = session.execute(
        select(VoiceClip.id, VoiceClip.blob_key, VoiceClip.version)
        .where(VoiceClip.set_id == photo_set.id, VoiceClip.state.in_(RELEASABLE_CLIP_STATES))
        .order_by(VoiceClip.id)
    )
    return tuple(StoredItem("voice", r.id, r.blob_key, r.version) for r in rows)


def _version(session: Session, record: ConsentRecord) -> str:
    version = session.get(NoticeVersion, record.notice_version_id)
    return f"v{version.number}" if version is not None else "unknown"


def still_consenting(consent: ConsentService, subject_id: str, campaign_id: str) -> bool:
    """Whether the contributor still holds everything a release of their items rests on."""
    return NEEDED <= consent.active_kinds(subject_id, campaign_id)
