"""Compliance: what a compliance officer needs to show a regulator that datadam did what PIPA and GDPR require.

- retention: erase every enrollment of a campaign whose retention ended (through ErasureService), as a job and a
  command, with a report of what was destroyed and when;
- rights: contributors' requests (access/export, correction, deletion, suspension) with the 10-day deadline;
- deadlines: every erasure owed (retention, withdrawal, deletion request) and whether it met the 5-day limit;
- registry: consent records by subject or receipt id, state history, bulk signature verification;
- ledger: the erasure ledger with proof read back from the key rows and the blob store;
- access_log: the monthly review of staff views of biometric objects, and its sign-off;
- conformance: the automatically evaluated PIPA / GDPR checklist;
- processing: records of processing (and the public privacy policy) from the campaigns' notices.

Suspension of processing is recorded here (`is_suspended`); the steps that process a contributor's data must
ask it: the gate jobs (collection.contributions.gates), review and release building. Wiring those checks, and
calling `enqueue_daily` (RETENTION_JOB) from the in-process sweep or a Celery beat entry, belongs to the owners
of those modules.
"""

from collection.compliance.access_log import AccessReport, AccessReviewService, month_bounds, month_of
from collection.compliance.alerts import Alerts, current_alerts
from collection.compliance.conformance import CheckResult, ConformanceChecker, ConformanceReport, Status
from collection.compliance.correction import Correction, CorrectionResult
from collection.compliance.deadlines import ERASURE_DEADLINE, ErasureObligation, erasure_obligations
from collection.compliance.errors import AccessReviewError, ComplianceError, CorrectionRefused, RightsRequestError
from collection.compliance.ledger import ErasureProof, erasure_proofs
from collection.compliance.models import (
    RIGHTS_SLA,
    AccessReview,
    ProcessingSuspension,
    RetentionRun,
    RightsKind,
    RightsRequest,
    RightsState,
)
from collection.compliance.processing import RecordsOfProcessing, records_of_processing
from collection.compliance.registry import BulkVerification, ConsentRegistry
from collection.compliance.retention import (
    RETENTION_JOB,
    RetentionResult,
    RetentionService,
    enqueue_daily,
    register_retention_job,
    retention_due,
)
from collection.compliance.rights import RightsService, overdue_requests
from collection.compliance.suspension import is_suspended

__all__ = [
    "ERASURE_DEADLINE",
    "RETENTION_JOB",
    "RIGHTS_SLA",
    "AccessReport",
    "AccessReview",
    "AccessReviewError",
    "AccessReviewService",
    "Alerts",
    "BulkVerification",
    "CheckResult",
    "ComplianceError",
    "ConformanceChecker",
    "ConformanceReport",
    "ConsentRegistry",
    "Correction",
    "CorrectionRefused",
    "CorrectionResult",
    "ErasureObligation",
    "ErasureProof",
    "ProcessingSuspension",
    "RecordsOfProcessing",
    "RetentionResult",
    "RetentionRun",
    "RetentionService",
    "RightsKind",
    "RightsRequest",
    "RightsRequestError",
    "RightsService",
    "RightsState",
    "Status",
    "current_alerts",
    "enqueue_daily",
    "erasure_obligations",
    "erasure_proofs",
    "is_suspended",
    "month_bounds",
    "month_of",
    "overdue_requests",
    "records_of_processing",
    "register_retention_job",
    "retention_due",
]
