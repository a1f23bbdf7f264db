"""A wired set of collection services over the test database, the way webapp/services.py wires them, with an
in-memory blob store and jobs run synchronously after each commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collection.audit.log import AuditLog
from collection.campaigns.service import CampaignService
from collection.contributions.gates import GateContext, register_handlers
from collection.contributions.service import ContributionService
from collection.contributions.uploads import Boundaries, UploadService
from collection.crypto import KeyVault, MasterKey
from collection.erasure.service import ErasureService
from collection.job_queues import SynchronousQueue
from collection.job_runner import JobRunner
from collection.jobs import HandlerRegistry
from collection.payments.service import PaymentService
from collection.review.service import ReviewService
from collection.storage import MemoryBlobStore
from consent.service import ConsentService, KeyStore
from tests.consent._consent_support import make_notice

MASTER = b"M" * 32
REQUIRED = {"collection": True, "sensitive": True, "release": False, "voice": False}


@dataclass
class Env:
    session: Any
    clock: Any
    blobs: MemoryBlobStore
    queue: SynchronousQueue
    consent: ConsentService
    contributions: ContributionService
    uploads: UploadService
    review: ReviewService
    payments: PaymentService
    erasure: ErasureService
    campaigns: CampaignService
    vault: KeyVault


def build_env(session: Any, sessionmaker: Any, clock: Any) -> Env:
    blobs = MemoryBlobStore()
    registry = HandlerRegistry()
    runner = JobRunner(sessionmaker, registry, clock=clock)
    queue = SynchronousQueue(runner, registry, clock=clock)
    register_handlers(registry, GateContext(master_key=MASTER, blobs=blobs, queue=lambda: queue, clock=lambda: clock))
    audit = AuditLog(session, clock)
    consent = ConsentService(session, clock, KeyStore(session, MASTER, clock), "https://datadam.example/privacy")
    vault = KeyVault(session, MasterKey(MASTER), clock)
    contributions = ContributionService(session, clock, consent, audit)
    uploads = UploadService(session, clock, contributions, audit, Boundaries(vault, blobs, queue, b"mac" * 11))
    return Env(
        session,
        clock,
        blobs,
        queue,
        consent,
        contributions,
        uploads,
        ReviewService(session, clock, consent, audit),
        PaymentService(session, clock, audit),
        ErasureService(session, clock, vault, blobs, consent, audit),
        CampaignService(session, clock, audit),
        vault,
    )


def publish_notice(env: Env, campaign: Any) -> Any:
    version = env.consent.draft(campaign.id, make_notice(campaign=campaign.slug))
    env.consent.publish(version, by=None)
    env.session.commit()
    return version


def consent_and_enroll(
    env: Env, user: Any, campaign: Any, version: Any, decisions: dict[str, bool] | None = None
) -> Any:
    from consent.service import Signing

    env.consent.give(user.subject_id, version, Signing(decisions or REQUIRED, "ko", "김민지"))
    photo_set = env.contributions.enroll(user, campaign)
    env.session.commit()
    return photo_set
