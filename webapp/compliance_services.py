"""Wiring of the compliance services (collection.compliance) to the request's session, clock and boundaries.
It extends the composition root (webapp.services) the same way, kept in its own module while several features
are built at once; views and commands ask here and never build a compliance service themselves."""

from __future__ import annotations

from pathlib import Path

from collection.compliance import (
    AccessReviewService,
    ConformanceChecker,
    ConsentRegistry,
    RetentionService,
    RightsService,
)
from webapp.db import get_session
from webapp.services import audit, background, clock, consent, erasure, settings


def checkpoint_dir() -> Path:
    return settings().checkpoint_folder


def rights() -> RightsService:
    return RightsService(get_session(), clock(), audit(), erasure(), background().queue)


def retention() -> RetentionService:
    return RetentionService(get_session(), clock(), erasure(), audit())


def access_reviews() -> AccessReviewService:
    return AccessReviewService(get_session(), clock(), audit())


def consent_registry() -> ConsentRegistry:
    return ConsentRegistry(get_session(), consent(), audit())


def conformance() -> ConformanceChecker:
    return ConformanceChecker(get_session(), clock().now(), background().blobs, checkpoint_dir())
