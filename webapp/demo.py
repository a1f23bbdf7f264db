"""Demo data for the embedded default: accounts for every role, an open 70-photo campaign where the demo
contributor has signed consent and a partly filled set, and a small campaign where a second contributor's set
waits for review - so every screen has something real to show. Photos are variants of an installed package's
sample portrait (webapp.demo_media), never ../shared/data. Idempotent: running it again changes nothing that
exists and prints the same lines."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from collection.accounts import Role, SignupData, User
from collection.campaigns import Campaign, CampaignStatus
from webapp.db import get_session
from webapp.demo_media import face_photo
from webapp.services import accounts, clock, payments

DEMO_PASSWORD = "datadam-demo-1234"
DEMO_ACCOUNTS = (
    ("admin@demo.datadam", Role.ADMIN, "데모 관리자"),
    ("operator@demo.datadam", Role.OPERATOR, "데모 운영자"),
    ("compliance@demo.datadam", Role.COMPLIANCE, "데모 준법감시인"),
    ("contributor@demo.datadam", Role.CONTRIBUTOR, "데모 참여자"),
    ("contributor2@demo.datadam", Role.CONTRIBUTOR, "데모 참여자 2"),
)
QUICK_BRACKETS = [
    {"key": "0-9", "min_age": 0, "max_age": 9, "photos": 2},
    {"key": "20-29", "min_age": 20, "max_age": 29, "photos": 2},
    {"key": "30-39", "min_age": 30, "max_age": 39, "photos": 2},
]
BRACKET_AGE = {"0-9": 6, "10-19": 15, "20-29": 25, "30-39": 33}
DEMO_BRACKETS = [
    {"key": "0-9", "min_age": 0, "max_age": 9, "photos": 10},
    {"key": "10-19", "min_age": 10, "max_age": 19, "photos": 20},
    {"key": "20-29", "min_age": 20, "max_age": 29, "photos": 20},
    {"key": "30-39", "min_age": 30, "max_age": 39, "photos": 20},
]


DEMO_AGE = 33  # inside every demo campaign's age limits and the 30-39 bracket, whatever the date today


def demo_birth_date(today: dt.date) -> dt.date:
    """A birthday DEMO_AGE years before `today` (28 February where that year has no 29 February)."""
    try:
        return today.replace(year=today.year - DEMO_AGE)
    except ValueError:
        return today.replace(year=today.year - DEMO_AGE, day=28)


def _ensure_account(email: str, role: Role, name: str) -> User:
    existing = accounts().find_by_email(email)
    if existing is not None:
        return existing
    if role is Role.CONTRIBUTOR:
        return accounts().sign_up(SignupData(email, DEMO_PASSWORD, name, demo_birth_date(clock().now().date()), "ko"))
    return accounts().create_staff(email, DEMO_PASSWORD, role, name)


def _ensure_open_campaign(owner: User, slug: str, **fields: object) -> Campaign:
    """The campaign with this slug, created and opened with `fields` the first time."""
    session = get_session()
    campaign = session.scalar(select(Campaign).where(Campaign.slug == slug))
    if campaign is not None:
        return campaign
    campaign = Campaign(
        slug=slug,
        status=CampaignStatus.DRAFT,
        created_by=owner.id,
        created_at=clock().now(),
        photo_rules={"min_face_side_px": 120, "min_inter_eye_px": 40.0},
        **fields,
    )
    session.add(campaign)
    campaign.open(clock().now())
    session.flush()
    return campaign


def _ensure_quick_campaign(owner: User) -> Campaign:
    return _ensure_open_campaign(
        owner,
        "faces-quick-demo",
        brackets=QUICK_BRACKETS,
        voice_prompts=[],
        title_ko="얼굴 사진 6장 (빠른 데모)",
        title_en="Six face photos (quick demo)",
        description_ko="세 연령대에서 각 2장씩, 본인의 얼굴 사진 6장을 제출합니다.",
        description_en="Six photos of your own face, two from each of three age brackets.",
        payment_krw=30_000,
        quota=100,
        min_age=30,  # every bracket up to 30-39 must be one the youngest contributor has lived through
        max_age=40,
        retention_days=180,
    )


def _ensure_campaign(owner: User) -> Campaign:
    return _ensure_open_campaign(
        owner,
        "aging-faces-demo",
        title_ko="나이 변화 얼굴 사진 수집 (데모)",
        title_en="Faces across the ages (demo)",
        description_ko="어린 시절부터 지금까지 본인의 얼굴 사진 70장을 연령대별로 제출해 주세요. "
        "마스크·선글라스·손으로 가리지 않은 얼굴이어야 합니다.",
        description_en="Submit 70 photos of your own face from childhood to today, grouped by age bracket. "
        "The face must be unobstructed: no mask, sunglasses or hand.",
        brackets=DEMO_BRACKETS,
        voice_prompts=[
            {
                "key": "greeting",
                "text_ko": "안녕하세요, 오늘 날씨가 좋네요.",
                "text_en": "Hello, the weather is nice today.",
                "min_seconds": 2,
                "max_seconds": 15,
            }
        ],
        payment_krw=400_000,
        quota=500,
        min_age=30,
        max_age=35,
        retention_days=365,
    )


def _ensure_consent(campaign: Campaign, contributor: User) -> int:
    """Publish the campaign's default notice (unless a version is published) and sign it for the demo
    contributor (unless they have any consent record), so there is always a receipt to export and verify."""
    from collection.campaigns.notice_template import default_notice, notice_facts
    from consent.service import Signing
    from webapp.services import consent, settings

    service, s = consent(), settings()
    version = service.current_version(campaign.id)
    if version is None:
        notice = default_notice(campaign, s.controller_name, s.controller_contact, s.jurisdictions)
        version = service.publish(service.draft(campaign.id, notice, notice_facts(campaign)), by=None)
    if service.latest_record(contributor.subject_id, campaign.id) is None:
        decisions = {matter.id: True for matter in version.notice.matters}
        signing = Signing(decisions=decisions, language="ko", signature=contributor.display_name or "데모 참여자")
        service.give(contributor.subject_id, version, signing)
    return version.number


def _ensure_photos(contributor: User, campaign: Campaign, per_bracket: dict[str, int], first_variant: int) -> int:
    """Enroll and upload sample photos until each bracket holds `per_bracket[key]` of them; returns how many
    the set holds. Photos the duplicate check refuses are skipped for the next variant."""
    from collection.errors import DuplicatePhoto
    from webapp.services import contributions, uploads

    photo_set = contributions().enroll(contributor, campaign)
    variant = first_variant
    for key, wanted in per_bracket.items():
        while sum(1 for p in photo_set.photos if p.bracket == key) < wanted:
            variant += 1
            try:
                uploads().add_photo(
                    contributor, campaign, key, face_photo(variant, size=720), age_years=BRACKET_AGE[key]
                )
            except DuplicatePhoto:
                continue
            get_session().commit()
            get_session().refresh(photo_set)
    return len(photo_set.photos)


def _run_pending_jobs() -> None:
    """Run the queued gate jobs now (the CLI has no worker threads), until none are left."""
    from flask import current_app

    from collection.jobs import runnable_job_ids
    from webapp.background import get

    background = get(current_app)
    for _ in range(10):
        ids = runnable_job_ids(get_session(), clock().now())
        get_session().rollback()
        if not ids:
            return
        for job_id in ids:
            background.runner.run(job_id)


def _ensure_waiting_set(contributor: User, campaign: Campaign) -> str:
    from collection.contributions.models import SetState
    from collection.errors import ContributionError
    from webapp.services import contributions

    _ensure_consent(campaign, contributor)
    get_session().commit()
    _ensure_photos(contributor, campaign, {b["key"]: b["photos"] for b in campaign.brackets}, 100)
    _run_pending_jobs()
    photo_set = contributions().photo_set(contributor, campaign)
    get_session().refresh(photo_set)
    if photo_set.state is SetState.DRAFT:
        try:
            contributions().submit(contributor, campaign)
            get_session().commit()
        except ContributionError as exc:
            get_session().rollback()
            return f"not submitted ({exc})"
    return photo_set.state.value


def _ensure_payout_account(user: User, number: str) -> None:
    """A made-up account, so an operator can pay the demo sets and download the bank file."""
    if payments().payout_account(user) is None:
        payments().save_payout_account(user, "088", user.display_name or "데모", number)


def seed() -> list[str]:
    users = {email: _ensure_account(email, role, name) for email, role, name in DEMO_ACCOUNTS}
    operator = users["operator@demo.datadam"]
    campaign, quick = _ensure_campaign(operator), _ensure_quick_campaign(operator)
    get_session().commit()
    notice_version = _ensure_consent(campaign, users["contributor@demo.datadam"])
    get_session().commit()
    held = _ensure_photos(users["contributor@demo.datadam"], campaign, {"0-9": 3, "20-29": 3, "30-39": 2}, 0)
    _run_pending_jobs()
    waiting = _ensure_waiting_set(users["contributor2@demo.datadam"], quick)
    demo_accounts = (("contributor@demo.datadam", "110-123-456789"), ("contributor2@demo.datadam", "3333-01-2345678"))
    for email, number in demo_accounts:
        _ensure_payout_account(users[email], number)
    get_session().commit()
    lines = [
        f"demo campaign: {campaign.slug} ({campaign.status.value})",
        f"demo consent: notice v{notice_version} published; the demo contributor holds a signed consent receipt",
        f"demo set: contributor@demo.datadam has {held} of {campaign.total_photos} photos in {campaign.slug}",
        f"demo review: contributor2@demo.datadam's set in {quick.slug} is {waiting}",
        f"demo logins (password for all: {DEMO_PASSWORD}):",
    ]
    lines += [f"  {role.value:<12} {email}" for email, role, _ in DEMO_ACCOUNTS]
    return lines
