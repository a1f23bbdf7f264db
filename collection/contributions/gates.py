"""Background checks of contributions: the photo gates on each upload, the identity-consistency set gate when
the set changes, and the voice gates on each recording. Handlers run in the job runner's transaction; they stop
at once for a contributor whose required consent is no longer in force (processing for a withdrawn purpose
never happens) and for objects that no longer exist."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from collection.accounts.models import User
from collection.audit.log import AuditLog
from collection.campaigns.models import Campaign
from collection.contributions.models import Photo, PhotoSet, PhotoState, VoiceClip
from collection.contributions.uploads import (
    PHOTO_GATES_JOB,
    SET_IDENTITY_JOB,
    VOICE_GATES_JOB,
    blob_key,
    campaign_rules,
    keyholder,
)
from collection.crypto import KeyVault, MasterKey
from collection.errors import SkipJob
from collection.jobs import HandlerRegistry, JobQueue
from collection.storage import BlobStore
from consent.clock import Clock
from consent.notice import MatterKind
from consent.service import ConsentService, KeyStore

VERDICT_STATE = {"pass": PhotoState.PASSED, "fail": PhotoState.FAILED, "review": PhotoState.NEEDS_REVIEW}


_AUTOMATIC = (PhotoState.PASSED, PhotoState.FAILED, PhotoState.NEEDS_REVIEW)


def cover_unsure(photo: Photo) -> bool:
    """The occlusion gate could not decide (a person will look) and no person has accepted the photo yet."""
    if photo.state is PhotoState.ACCEPTED:
        return False
    gate = next((g for g in (photo.gates or {}).get("gates", []) if g.get("name") == "occlusion"), None)
    return gate is not None and (gate.get("verdict") == "review" or bool(gate.get("review")))


def state_with_identity(photo: Photo, identity_verdict: str) -> PhotoState:
    """The photo's state from its own gates and the set's latest identity verdict. The identity verdict is
    relative to the rest of the set, so it is applied afresh each time the set gate runs: a photo held for
    review (or failed) by an earlier identity verdict goes back to its gates' state once the set clears it.
    States a person decided or asked for (accepted, rejected, review the contributor requested) are kept."""
    own = VERDICT_STATE.get(str((photo.gates or {}).get("verdict")))
    if own is None or photo.state not in _AUTOMATIC or photo.contributor_note:
        return photo.state
    if own is PhotoState.PASSED and identity_verdict == "flag":
        return PhotoState.FAILED
    if own is PhotoState.PASSED and identity_verdict == "review":
        return PhotoState.NEEDS_REVIEW
    return own


@dataclass(frozen=True)
class GateContext:
    """What the handlers need besides their session; built once by the composition root."""

    master_key: bytes
    blobs: BlobStore
    queue: Callable[[], JobQueue]
    clock: Callable[[], Clock]
    analyzer: Any = None  # quality_gates.FaceAnalyzer; None = the real dlib analyzer


class GateJobs:
    def __init__(self, session: Session, ctx: GateContext) -> None:
        self.session = session
        self.ctx = ctx
        clock = ctx.clock()
        self.vault = KeyVault(session, MasterKey(ctx.master_key), clock)
        self.consent = ConsentService(session, clock, KeyStore(session, ctx.master_key, clock), policy_url="")
        self.audit = AuditLog(session, clock)

    def _open(self, photo_set: PhotoSet, key: str, version: int) -> bytes:
        return self.vault.open(keyholder(photo_set), key, version, self.ctx.blobs.get(key))

    def _require_consent(self, photo_set: PhotoSet, kind: MatterKind | None = None) -> None:
        owner = self.session.get(User, photo_set.user_id)
        kinds = self.consent.active_kinds(owner.subject_id, photo_set.campaign_id) if owner else set()
        needed = {MatterKind.COLLECTION_AND_USE, MatterKind.SENSITIVE_INFORMATION} | ({kind} if kind else set())
        if not needed <= kinds:
            raise SkipJob("consent for this processing is not in force")
        from collection.compliance.suspension import is_suspended

        if is_suspended(self.session, photo_set.enrollment_id):
            raise SkipJob("processing is suspended at the contributor's request")

    # -- photo gates -----------------------------------------------------------------------------------------
    def photo(self, payload: Mapping[str, Any]) -> None:
        from quality_gates import check_photo, decode_image

        photo = self.session.get(Photo, payload["photo_id"])
        if photo is None or photo.state is not PhotoState.CHECKING:
            raise SkipJob("the photo is gone or already checked")
        self._require_consent(photo.photo_set)
        campaign = self.session.get(Campaign, photo.campaign_id)
        rules = campaign_rules(campaign)
        decoded = decode_image(self._open(photo.photo_set, photo.blob_key, photo.version), rules)
        report = check_photo(decoded, rules, analyzer=self.ctx.analyzer)
        photo.gates = report.to_dict()
        photo.state = VERDICT_STATE[report.verdict.value]
        encoding = report.faces[0].encoding if report.faces else None
        if encoding is not None:
            photo.encoding_key = blob_key(keyholder(photo.photo_set), "encoding", photo.id, photo.version)
            sealed = self.vault.seal(
                keyholder(photo.photo_set), photo.encoding_key, photo.version, _array_bytes(encoding)
            )
            self.ctx.blobs.put(photo.encoding_key, sealed)
        self.session.flush()
        self.ctx.queue().enqueue(
            self.session, SET_IDENTITY_JOB, {"set_id": photo.set_id}, dedupe_key=f"identity:{photo.set_id}"
        )

    # -- identity across the set -------------------------------------------------------------------------------
    def identity(self, payload: Mapping[str, Any]) -> None:
        from quality_gates import SetPhoto, check_set, parse_bracket

        photo_set = self.session.get(PhotoSet, payload["set_id"])
        if photo_set is None:
            raise SkipJob("the set is gone")
        self._require_consent(photo_set)
        photos = [p for p in photo_set.current_photos if p.state is not PhotoState.CHECKING]
        entry = {p.id: SetPhoto(encoding=self._encoding(photo_set, p), bracket=parse_bracket(p.bracket),
                                age_years=p.age_years) for p in photos}
        # A face that may be covered is never a reference for the others until a person clears it (a covered face
        # would move the distances of every photo compared with it; STANDARDS: occlusion before identity), but it
        # is itself compared with the uncovered photos, so the reviewer who clears it sees whether it matches.
        sure = [p for p in photos if not cover_unsure(p)]
        if len(sure) >= 2:
            report = check_set([entry[p.id] for p in sure])
            for p, result in zip(sure, report.photos, strict=True):  # results come in input order
                p.identity = result.to_dict()
                p.state = state_with_identity(p, result.verdict.value)
            summary = report.to_dict()
            summary["photo_ids"] = [p.id for p in sure]  # rows/columns of the distance matrix
            photo_set.identity = {k: v for k, v in summary.items() if k != "photos"}
        else:  # nothing (or one photo) to compare: no verdict stands, and no earlier one either
            for p in sure:
                p.identity = {}
                p.state = state_with_identity(p, "pass")
            photo_set.identity = {}
        for p in photos:
            if p not in sure:
                verdict = check_set([entry[q.id] for q in sure] + [entry[p.id]]).photos[-1] if sure else None
                p.identity = verdict.to_dict() if verdict else {}
                p.state = state_with_identity(p, verdict.verdict.value) if verdict else p.state
        self.session.flush()

    def _encoding(self, photo_set: PhotoSet, photo: Photo) -> np.ndarray | None:
        if not photo.encoding_key:
            return None
        raw = self._open(photo_set, photo.encoding_key, photo.version)
        return np.load(io.BytesIO(raw), allow_pickle=False)

    # -- voice -------------------------------------------------------------------------------------------------
    def voice(self, payload: Mapping[str, Any]) -> None:
        from quality_gates import VoiceRules, check_voice, decode_audio

        clip = self.session.get(VoiceClip, payload["clip_id"])
        if clip is None or clip.state is not PhotoState.CHECKING:
            raise SkipJob("the recording is gone or already checked")
        self._require_consent(clip.photo_set, MatterKind.VOICE_RECORDING)
        campaign = self.session.get(Campaign, clip.photo_set.campaign_id)
        prompt = next((p for p in campaign.voice_prompts if p["key"] == clip.prompt_key), {})
        rules = VoiceRules.from_dict({k: prompt[k] for k in ("min_seconds", "max_seconds") if k in prompt})
        report = check_voice(decode_audio(self._open(clip.photo_set, clip.blob_key, clip.version)), rules)
        clip.gates = report.to_dict()
        clip.state = VERDICT_STATE[report.verdict.value]
        self.session.flush()


def requeue_checks(session: Session, queue: JobQueue, enrollment_id: str) -> int:
    """Queue again the checks of every photo and recording of the enrollment still waiting for them, and the set's
    identity check: their jobs were skipped while processing was suspended, and nothing else would run them once
    it is lifted. Returns how many photos and recordings were queued. Raises UnknownJobKind."""
    from sqlalchemy import select

    photo_set = session.scalar(select(PhotoSet).where(PhotoSet.enrollment_id == enrollment_id))
    if photo_set is None:
        return 0
    waiting = 0
    for photo in photo_set.current_photos:
        if photo.state is PhotoState.CHECKING:
            queue.enqueue(session, PHOTO_GATES_JOB, {"photo_id": photo.id}, dedupe_key=f"photo:{photo.id}")
            waiting += 1
    for clip in photo_set.voice_clips:
        if clip.state is PhotoState.CHECKING:
            queue.enqueue(session, VOICE_GATES_JOB, {"clip_id": clip.id}, dedupe_key=f"clip:{clip.id}")
            waiting += 1
    queue.enqueue(session, SET_IDENTITY_JOB, {"set_id": photo_set.id}, dedupe_key=f"identity:{photo_set.id}")
    return waiting


def reconcile_failed_checks(session: Session) -> int:
    """Photos and recordings whose check job failed for good go to a person instead of staying 'checking'."""
    from sqlalchemy import select

    from collection.jobs import Job, JobState

    changed = 0
    failed = session.scalars(
        select(Job).where(Job.state == JobState.FAILED, Job.kind.in_([PHOTO_GATES_JOB, VOICE_GATES_JOB]))
    )
    for job in failed:
        model, key = (Photo, "photo_id") if job.kind == PHOTO_GATES_JOB else (VoiceClip, "clip_id")
        item = session.get(model, job.payload.get(key))
        if item is not None and item.state is PhotoState.CHECKING:
            item.state = PhotoState.NEEDS_REVIEW
            item.gates = {
                "verdict": "review",
                "gates": [
                    {
                        "name": "check",
                        "passed": False,
                        "review": True,
                        "reason": "check_failed",
                        "measured": {},
                        "threshold": {},
                    }
                ],
            }
            changed += 1
    session.flush()
    return changed


def _array_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, np.asarray(array, dtype=np.float64), allow_pickle=False)
    return out.getvalue()


def register_handlers(registry: HandlerRegistry, ctx: GateContext) -> None:
    registry.register(PHOTO_GATES_JOB, lambda s, p: GateJobs(s, ctx).photo(p), max_attempts=3)
    registry.register(SET_IDENTITY_JOB, lambda s, p: GateJobs(s, ctx).identity(p), max_attempts=3)
    registry.register(VOICE_GATES_JOB, lambda s, p: GateJobs(s, ctx).voice(p), max_attempts=3)
