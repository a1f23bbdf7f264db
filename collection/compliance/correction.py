"""Correcting a contributor's data on a correction request (PIPA Art. 36 정정): the name and birth date on the
account and the age stated for a photo. These fields are sealed at rest (`consent.sealed`): they are changed
through the ORM, which seals the new value, never by hand in the database.

A corrected birth date moves every age that was worked out from it (a photo's date and the birth date), and
the identity check compares photos by age, so the sets whose ages moved are named for their identity check to
run again. The caller (RightsService.correct) queues those checks and records which fields changed; the old and
new values go nowhere but the sealed columns.

A corrected birth date must not leave in force what the rest of the system would have refused at joining. It is
refused when, by the new date, the person was outside the age range of a campaign they are still enrolled in (the
officer completes a deletion for that campaign instead), or under 14 when they joined while the consent they gave
was an adult's, without a legal representative (PIPA Art. 22-2: they withdraw and consent again with a guardian).
An age worked out again from the new date that falls outside its photo's bracket is not refused, but reported
(`CorrectionResult.outside_bracket`) so the officer can ask for the photo to be replaced.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from collection.accounts.models import User
from collection.campaigns.models import Campaign
from collection.compliance.errors import CorrectionRefused
from collection.compliance.models import RightsRequest
from collection.contributions.models import Enrollment, EnrollmentState, Photo, PhotoSet, PhotoState

NAME_MAX = 100
OLDEST_AGE = 120
CORRECTABLE = ("display_name", "birth_date", "photo_age")  # the fields, in the order pages name them
CORRECTED = "correction"  # Photo.age_source of an age corrected on a request
GUARDIAN_BELOW = 14  # PIPA Art. 22-2: under this age a legal representative consents


@dataclass(frozen=True)
class Correction:
    """What the officer asks to change; None leaves a field as it is."""

    display_name: str | None = None
    birth_date: dt.date | None = None
    photo_id: str | None = None
    photo_age: int | None = None


@dataclass
class CorrectionResult:
    """Which fields changed (display_name, birth_date, photo_age), the photos whose age changed (given, or worked
    out again from the birth date) and the sets whose identity check must run again."""

    fields: list[str] = field(default_factory=list)
    photos: list[str] = field(default_factory=list)
    sets: list[str] = field(default_factory=list)
    outside_bracket: list[OutsideBracket] = field(default_factory=list)


@dataclass(frozen=True)
class OutsideBracket:
    """A photo whose age, worked out again from the corrected birth date, is outside its bracket."""

    photo_id: str
    bracket: str
    age: int
    min_age: int
    max_age: int


def correctable_photos(session: Session, user_id: str, campaign_id: str | None) -> list[Photo]:
    """The photos a request covers: the current photos of the person's live enrollments (in its campaign, when
    it names one), by bracket, oldest first."""
    q = (
        select(Photo)
        .join(PhotoSet, Photo.set_id == PhotoSet.id)
        .join(Enrollment, PhotoSet.enrollment_id == Enrollment.id)
        .where(Photo.user_id == user_id, Enrollment.state != EnrollmentState.ERASED,
               Photo.state != PhotoState.REPLACED)
    )
    if campaign_id is not None:
        q = q.where(Photo.campaign_id == campaign_id)
    return list(session.scalars(q.order_by(Photo.bracket, Photo.created_at)))


def apply_correction(
    session: Session, user: User, request: RightsRequest, correction: Correction, today: dt.date
) -> CorrectionResult:
    """Check every field first, then change them (all or nothing). Raises CorrectionRefused."""
    if user.erased_at is not None:
        raise CorrectionRefused("request", "erased")
    name = _checked_name(correction.display_name)
    birth = _checked_birth(correction.birth_date, today)
    if birth is not None and birth != user.birth_date:
        _check_enrollments(session, user, birth)
    photo = _checked_photo(session, request, correction, user, birth or user.birth_date, today)
    result = CorrectionResult()
    if name is not None and name != user.display_name:
        user.display_name = name
        result.fields.append("display_name")
    if birth is not None and birth != user.birth_date:
        user.birth_date = birth
        result.fields.append("birth_date")
        _recompute_ages(session, user, result)
    if photo is not None and photo.age_years != correction.photo_age:
        photo.age_years, photo.age_source = correction.photo_age, CORRECTED
        result.fields.append("photo_age")
        _touched(result, photo)
    session.flush()
    return result


def _checked_name(name: str | None) -> str | None:
    if name is None:
        return None
    cleaned = " ".join(name.split())
    if not cleaned:
        raise CorrectionRefused("display_name", "empty")
    if len(cleaned) > NAME_MAX:
        raise CorrectionRefused("display_name", "too_long", max=NAME_MAX)
    return cleaned


def _checked_birth(birth: dt.date | None, today: dt.date) -> dt.date | None:
    if birth is None:
        return None
    if birth >= today:
        raise CorrectionRefused("birth_date", "future")
    if today.year - birth.year > OLDEST_AGE:
        raise CorrectionRefused("birth_date", "too_old", oldest=OLDEST_AGE)
    return birth


def _check_enrollments(session: Session, user: User, birth: dt.date) -> None:
    """Refuse a birth date by which the person could not have joined a campaign they are still enrolled in: below
    or above its age range, or under 14 with an adult's consent (no legal representative). Raises
    CorrectionRefused("birth_date", "outside_campaign_ages" | "needs_guardian")."""
    live = session.scalars(
        select(Enrollment).where(Enrollment.user_id == user.id, Enrollment.state != EnrollmentState.ERASED)
    )
    for enrollment in live:
        joined = enrollment.joined_at.date()
        age = _age(birth, joined)
        campaign = session.get(Campaign, enrollment.campaign_id)
        if campaign is not None and not campaign.accepts_age(age):
            raise CorrectionRefused("birth_date", "outside_campaign_ages", campaign_id=campaign.id,
                                    min_age=campaign.min_age, max_age=campaign.max_age, age=age)
        before = _age(user.birth_date, joined)
        # consent given while the recorded age was under 14 was given with a guardian (consent refuses it without)
        if age is not None and age < GUARDIAN_BELOW and not (before is not None and before < GUARDIAN_BELOW):
            raise CorrectionRefused("birth_date", "needs_guardian", campaign_id=enrollment.campaign_id)


def _checked_photo(
    session: Session, request: RightsRequest, correction: Correction, user: User, birth: dt.date | None,
    today: dt.date,
) -> Photo | None:
    """The photo whose age is corrected, once the age is plausible: inside the photo's bracket (identity checks
    and the release compare photos by it) and not above the person's own age."""
    if correction.photo_id is None or correction.photo_age is None:
        return None
    covered = correctable_photos(session, request.user_id, request.campaign_id)
    photo = next((p for p in covered if p.id == correction.photo_id), None)
    if photo is None:
        raise CorrectionRefused("photo_age", "not_found")
    age = correction.photo_age
    bracket = _bracket(session, photo)
    if bracket is not None and not int(bracket["min_age"]) <= age <= int(bracket["max_age"]):
        raise CorrectionRefused("photo_age", "outside_bracket", min_age=int(bracket["min_age"]),
                                max_age=int(bracket["max_age"]))
    own = _age(birth, today)
    if age < 0 or (own is not None and age > own):
        raise CorrectionRefused("photo_age", "above_own_age", own=own if own is not None else OLDEST_AGE)
    return photo


def _bracket(session: Session, photo: Photo) -> dict[str, Any] | None:
    campaign = session.get(Campaign, photo.campaign_id)
    return next((b for b in (campaign.brackets if campaign else []) if b["key"] == photo.bracket), None)


def _age(birth: dt.date | None, day: dt.date) -> int | None:
    if birth is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _recompute_ages(session: Session, user: User, result: CorrectionResult) -> None:
    """Ages worked out from a photo's date and the birth date follow the corrected birth date (in every
    campaign: the birth date is the account's). Ages the contributor gave, or an officer corrected, stay."""
    for photo in correctable_photos(session, user.id, None):
        if photo.age_source != "capture_date" or photo.captured_at is None:
            continue
        age = user.age_on(photo.captured_at.date())
        if age is not None and 0 <= age <= OLDEST_AGE and age != photo.age_years:
            photo.age_years = age
            _touched(result, photo)
            bracket = _bracket(session, photo)
            if bracket is not None and not int(bracket["min_age"]) <= age <= int(bracket["max_age"]):
                result.outside_bracket.append(
                    OutsideBracket(photo.id, photo.bracket, age, int(bracket["min_age"]), int(bracket["max_age"]))
                )


def _touched(result: CorrectionResult, photo: Photo) -> None:
    if photo.id not in result.photos:
        result.photos.append(photo.id)
    if photo.set_id not in result.sets:
        result.sets.append(photo.set_id)
