"""The composition root: the one place that wires domain services to the request's session, the clock, the
configured keys and boundaries. Views ask this module for a service and never build one themselves."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from flask import current_app
from sqlalchemy import select

from collection.accounts import AccountService, User, email_blind_index
from collection.accounts.service import ThrottlePolicy
from collection.audit.log import AuditLog
from collection.campaigns import Campaign, CampaignStatus
from collection.campaigns.service import CampaignService
from collection.contributions.service import ContributionService
from collection.contributions.uploads import Boundaries, UploadService
from collection.crypto import KeyVault, MasterKey
from collection.erasure.service import ErasureService
from collection.payments.service import PaymentService
from collection.review.service import ReviewService
from consent.clock import Clock, SystemClock
from consent.service import ConsentService, KeyStore
from webapp.config import Settings

if TYPE_CHECKING:
    from webapp.background import Background
from webapp.db import get_session

SETTINGS_KEY = "datadam.settings"
CLOCK_KEY = "datadam.clock"


def settings() -> Settings:
    return current_app.extensions[SETTINGS_KEY]


def clock() -> Clock:
    return current_app.extensions.get(CLOCK_KEY) or SystemClock()


def _derived_key(label: str) -> bytes:
    return hashlib.sha256(label.encode() + b"\x00" + settings().secret_key.encode()).digest()


def accounts() -> AccountService:
    s = settings()
    policy = ThrottlePolicy(
        max_failures=s.login_max_failures,
        lockout=dt.timedelta(minutes=s.login_lockout_minutes),
        ip_max_failures=s.login_ip_max_failures,
    )
    return AccountService(
        get_session(),
        clock(),
        _derived_key("login-ip"),
        policy,
        password_hasher(),
        email_index=email_blind_index(s.master_key_bytes),
    )


def password_hasher() -> PasswordHasher:
    # argon2-cffi's defaults (RFC 9106 low-memory profile) in every real environment; the test suite alone uses
    # the cheapest parameters so hundreds of sign-ins stay fast. The hash format records its own parameters.
    if settings().testing:
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return PasswordHasher()


def consent() -> ConsentService:
    s = settings()
    keys = KeyStore(get_session(), s.master_key_bytes, clock())
    return ConsentService(get_session(), clock(), keys, policy_url=s.base_url.rstrip("/") + "/privacy")


def hash_ip(ip: str) -> str:
    """Keyed hash of a client address, for throttling and consent evidence; the address itself is never stored."""
    import hmac

    return hmac.new(_derived_key("ip"), ip.encode(), hashlib.sha256).hexdigest()


# -- collection ------------------------------------------------------------------------------------------------
def audit() -> AuditLog:
    return AuditLog(get_session(), clock())


def background() -> Background:
    from webapp.background import get

    return get(current_app)


def vault() -> KeyVault:
    return KeyVault(get_session(), MasterKey(settings().master_key_bytes), clock())


def contributions() -> ContributionService:
    return ContributionService(get_session(), clock(), consent(), audit())


def uploads() -> UploadService:
    bg = background()
    boundaries = Boundaries(vault=vault(), blobs=bg.blobs, queue=bg.queue, mac_key=_derived_key("content-mac"))
    return UploadService(get_session(), clock(), contributions(), audit(), boundaries)


def review() -> ReviewService:
    return ReviewService(get_session(), clock(), consent(), audit(), background().queue)


def payments() -> PaymentService:
    return PaymentService(get_session(), clock(), audit())


def erasure() -> ErasureService:
    return ErasureService(get_session(), clock(), vault(), background().blobs, consent(), audit())


def campaigns() -> CampaignService:
    return CampaignService(get_session(), clock(), audit())


def open_campaigns(contributor: User | None) -> tuple[list[Campaign], set[str]]:
    """The open campaigns, newest first, and the ids of those `contributor`'s age does not fit (none for anyone
    else): the home page and the contributor's own page mark them the same way."""
    found = list(get_session().scalars(
        select(Campaign).where(Campaign.status == CampaignStatus.OPEN).order_by(Campaign.opened_at.desc())
    ))
    age = contributor.age_on(clock().now().date()) if contributor is not None else None
    return found, {c.id for c in found if age is not None and not c.accepts_age(age)}
