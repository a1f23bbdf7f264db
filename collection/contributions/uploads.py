"""Receiving photos and recordings from contributors. Untrusted bytes are size-checked before parsing, parsed
with an allow-list, bomb-capped and orientation-corrected (quality_gates.decode_image), then the stored working
copy is re-encoded from pixels (no metadata survives), sealed under the contributor's data key and written to the
blob store before the row. A crash between the two leaves a blob without a row, which the orphan sweep removes
(`collection.orphans.sweep_orphans`: at start-up of the embedded server once it is an hour old, and daily, once it
is a day old, from `datadam jobs tick`); never a row without its blob.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import io
import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image
from sqlalchemy import CompoundSelect, select, union_all
from sqlalchemy.orm import Session

from collection._after_commit import on_commit
from collection.accounts.models import User
from collection.audit.log import Actor, AuditLog
from collection.campaigns.models import Campaign
from collection.contributions.models import Photo, PhotoSet, PhotoState, VoiceClip
from collection.contributions.service import ContributionService
from collection.crypto import KeyVault
from collection.errors import ConsentRequired, DuplicatePhoto, InvalidTransition, NotFound, UploadRefused
from collection.jobs import JobQueue
from collection.storage import BlobStore
from consent.clock import Clock
from consent.notice import MatterKind

if TYPE_CHECKING:
    from quality_gates import PhotoRules

logger = logging.getLogger(__name__)

THUMB_SIDE = 320
WORKING_JPEG_QUALITY = 92
PHOTO_GATES_JOB = "photo.gates"
SET_IDENTITY_JOB = "set.identity"
VOICE_GATES_JOB = "voice.gates"


@dataclass(frozen=True)
class Boundaries:
    """The collaborators an upload needs beyond the database session."""

    vault: KeyVault
    blobs: BlobStore
    queue: JobQueue
    mac_key: bytes  # keys the exact-duplicate hash, so it cannot be matched against known photos elsewhere


def campaign_rules(campaign: Campaign) -> PhotoRules:
    from quality_gates import PhotoRules

    return PhotoRules.from_dict(campaign.photo_rules or {})


def blob_key(keyholder: str, kind: str, object_id: str, version: int) -> str:
    """Blob names carry only random ids; grouping by key holder lets erasure delete one prefix."""
    return f"{blob_prefix(keyholder)}{kind}/{object_id}.v{version}"


def blob_prefix(keyholder: str) -> str:
    return f"e/{keyholder}/"


def voice_blob_prefix(keyholder: str) -> str:
    """Every version of every recording of the key holder (erased alone when the voice matter is withdrawn)."""
    return f"{blob_prefix(keyholder)}voice/"


def keyholder(photo_set: PhotoSet) -> str:
    """Data keys are per contributor AND campaign (the enrollment), so withdrawing from one campaign
    crypto-shreds exactly that campaign's data and nothing else of the person's."""
    return photo_set.enrollment_id


def encode_jpeg(pixels: np.ndarray, max_side: int | None = None, quality: int = WORKING_JPEG_QUALITY) -> bytes:
    """Rebuild an image from raw pixels: nothing but the pixels survives (no EXIF, XMP, ICC, comments)."""
    image = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
    if max_side and max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


class UploadService:
    def __init__(
        self,
        session: Session,
        clock: Clock,
        contributions: ContributionService,
        audit: AuditLog,
        boundaries: Boundaries,
    ) -> None:
        self.session = session
        self.clock = clock
        self.contributions = contributions
        self.audit = audit
        self.b = boundaries

    # -- photos -------------------------------------------------------------------------------------------------
    def add_photo(
        self,
        user: User,
        campaign: Campaign,
        bracket: str,
        data: bytes,
        age_years: int | None = None,
        replaces: str | None = None,
    ) -> Photo:
        """Store one photo and queue its checks. Raises ConsentRequired, InvalidTransition, UploadRefused,
        DuplicatePhoto, NotFound (replaced photo)."""
        photo_set = self._editable_set(user, campaign)
        bracket_rule = self._bracket(campaign, bracket)
        if age_years is not None:
            self._check_given_age(user, bracket_rule, age_years)
        old = self._replaced(photo_set, replaces) if replaces else None
        rules = campaign_rules(campaign)
        decoded = self._decode(data, rules)
        from quality_gates import perceptual_hash

        mac = hmac.new(self.b.mac_key, data, hashlib.sha256).hexdigest()
        phash = format(perceptual_hash(decoded.pixels), "016x")
        self._refuse_duplicates(photo_set, mac, phash, rules, ignore=old)
        if old is None and self._count(photo_set, bracket) >= int(bracket_rule["photos"]):
            raise UploadRefused(
                "this age bracket already has all its photos: remove one first", reason="bracket_full", bracket=bracket
            )
        photo = Photo(
            set_id=photo_set.id,
            campaign_id=campaign.id,
            user_id=user.id,
            bracket=bracket,
            state=PhotoState.CHECKING,
            version=1,
            content_mac=mac,
            phash=phash,
            width=decoded.original_size[0],
            height=decoded.original_size[1],
            source_format=decoded.format,
            captured_at=_as_stored_time(decoded.captured_at),
            created_at=self.clock.now(),
            round=0,
            replaces_id=old.id if old else None,
            blob_key="",
        )
        photo.age_years, photo.age_source = self._age(user, decoded.captured_at, age_years)
        photo_set.photos.append(photo)  # keep the loaded collection true (completeness is read from it)
        self.session.flush()
        self._store_photo(photo_set, photo, decoded.pixels)
        if old is not None:
            self._supersede(old)
        self.b.queue.enqueue(self.session, PHOTO_GATES_JOB, {"photo_id": photo.id}, dedupe_key=f"photo:{photo.id}")
        self.audit.record(
            Actor(user.subject_id, "contributor"),
            "photo.uploaded",
            "photo",
            photo.id,
            bracket=bracket,
            replaces=photo.replaces_id,
        )
        return photo

    def _editable_set(self, user: User, campaign: Campaign) -> PhotoSet:
        if not self.contributions.consent.may_upload(user.subject_id, campaign.id):
            raise ConsentRequired("your consent must be in force (and renewed for the current notice) to upload")
        photo_set = self.contributions.photo_set(user, campaign)
        self.contributions.refuse_if_suspended(photo_set)
        self.contributions.refuse_if_closed(campaign, photo_set)
        if not photo_set.editable:
            raise InvalidTransition("the set is in review: wait for the result before changing it")
        return photo_set

    @staticmethod
    def _bracket(campaign: Campaign, key: str) -> dict[str, Any]:
        for b in campaign.brackets:
            if b["key"] == key:
                return b
        raise UploadRefused("unknown age bracket", reason="bracket", bracket=key)

    def _replaced(self, photo_set: PhotoSet, photo_id: str) -> Photo:
        photo = self.session.get(Photo, photo_id)
        if photo is None or photo.set_id != photo_set.id:
            raise NotFound("photo", photo_id)
        return photo

    @staticmethod
    def _decode(data: bytes, rules: PhotoRules) -> Any:
        from quality_gates import ImageDecodeError, decode_image

        if len(data) > rules.max_bytes:
            raise UploadRefused("the file is too large", reason="too_large", max_bytes=rules.max_bytes)
        full = dataclasses.replace(rules, work_max_side_px=rules.max_dimension_px)
        try:
            return decode_image(data, full)
        except ImageDecodeError as exc:
            raise UploadRefused(str(exc), reason=type(exc).__name__) from exc

    def _refuse_duplicates(
        self, photo_set: PhotoSet, mac: str, phash: str, rules: PhotoRules, ignore: Photo | None
    ) -> None:
        from quality_gates import hamming

        for other in photo_set.photos:
            if other is ignore:
                continue
            if other.content_mac == mac:
                raise DuplicatePhoto(
                    "this exact photo is already in your set", photo_id=other.id, bracket=other.bracket
                )
            if other.phash and hamming(int(other.phash, 16), int(phash, 16)) <= rules.duplicate_hamming_fail:
                raise DuplicatePhoto(
                    "a nearly identical photo is already in your set", photo_id=other.id, bracket=other.bracket
                )

    def _count(self, photo_set: PhotoSet, bracket: str) -> int:
        return sum(1 for p in photo_set.current_photos if p.bracket == bracket)

    def _check_given_age(self, user: User, bracket: dict[str, Any], age: int) -> None:
        """An age the contributor typed must fall in the bracket it is uploaded to and not above their own age
        (identity checks and the release compare photos by it). Raises UploadRefused."""
        lo, hi = int(bracket["min_age"]), int(bracket["max_age"])
        if not lo <= age <= hi:
            raise UploadRefused("the age given is outside this bracket", reason="age_outside_bracket",
                                bracket=str(bracket["key"]), min_age=lo, max_age=hi, age=age)
        now = user.age_on(self.clock.now().date())
        if now is not None and age > now:
            raise UploadRefused("the age given is above the contributor's own age", reason="age_above_own",
                                age=age, own=now)

    def _age(self, user: User, captured_at: Any, given: int | None) -> tuple[int | None, str | None]:
        if given is not None:
            return given, "contributor"
        if captured_at is not None and user.birth_date is not None:
            age = user.age_on(captured_at.date())
            if age is not None and 0 <= age <= 120:
                return age, "capture_date"
        return None, None

    def _store_photo(self, photo_set: PhotoSet, photo: Photo, pixels: np.ndarray) -> None:
        holder = keyholder(photo_set)
        photo.blob_key = blob_key(holder, "photo", photo.id, photo.version)
        photo.thumb_key = blob_key(holder, "thumb", photo.id, photo.version)
        for key, payload in ((photo.blob_key, encode_jpeg(pixels)), (photo.thumb_key, encode_jpeg(pixels, THUMB_SIDE))):
            self.put_sealed(photo_set, key, photo.version, payload)

    def put_sealed(self, photo_set: PhotoSet, key: str, version: int, payload: bytes) -> None:
        self.b.blobs.put(key, self.b.vault.seal(keyholder(photo_set), key, version, payload))

    def read_sealed(self, photo_set: PhotoSet, key: str, version: int) -> bytes:
        return self.b.vault.open(keyholder(photo_set), key, version, self.b.blobs.get(key))

    def read_photo(self, photo: Photo, thumb: bool = False) -> bytes:
        key = photo.thumb_key if thumb and photo.thumb_key else photo.blob_key
        return self.read_sealed(photo.photo_set, key, photo.version)

    def _supersede(self, old: Photo) -> None:
        """A rejected photo that is replaced stays, image and decisions included, so re-inspection can show
        before and after; a photo that was never rejected is simply removed."""
        if old.state is PhotoState.REJECTED:
            old.state = PhotoState.REPLACED
            self.session.flush()
        else:
            self.delete_photo(self.session.get(User, old.user_id), old)  # type: ignore[arg-type]

    def delete_photo(self, user: User, photo: Photo) -> None:
        """Remove a photo while the set is editable; its blobs go after the commit."""
        if photo.user_id != user.id:
            raise NotFound("photo", photo.id)
        if not photo.photo_set.editable:
            raise InvalidTransition("the set is in review: wait for the result before changing it")
        keys = [k for k in (photo.blob_key, photo.thumb_key, photo.encoding_key) if k]
        if photo in photo.photo_set.photos:
            photo.photo_set.photos.remove(photo)
        self.session.delete(photo)
        self.session.flush()
        blobs = self.b.blobs
        on_commit(self.session, lambda: [blobs.delete(k) for k in keys])
        self.audit.record(Actor(user.subject_id, "contributor"), "photo.removed", "photo", photo.id)

    def request_review(self, user: User, photo: Photo, note: str) -> None:
        """The contributor believes a failed photo is fine: a human looks at it instead of the gates."""
        if photo.user_id != user.id:
            raise NotFound("photo", photo.id)
        if photo.state is not PhotoState.FAILED:
            raise InvalidTransition("only a photo that failed a check can be sent to human review")
        photo.state = PhotoState.NEEDS_REVIEW
        photo.contributor_note = note.strip()[:1000]
        self.session.flush()

    # -- voice --------------------------------------------------------------------------------------------------
    def add_voice(self, user: User, campaign: Campaign, prompt_key: str, data: bytes) -> VoiceClip:
        """Store one recording (re-encoded from its samples) and queue its checks."""
        from quality_gates import AudioDecodeError, decode_audio

        photo_set = self._editable_set(user, campaign)
        if MatterKind.VOICE_RECORDING not in self.contributions.consent.active_kinds(user.subject_id, campaign.id):
            raise ConsentRequired("consent to voice recording first (it is optional)", matter="voice_recording")
        prompt = next((p for p in campaign.voice_prompts if p["key"] == prompt_key), None)
        if prompt is None:
            raise UploadRefused("unknown voice prompt", reason="prompt", prompt=prompt_key)
        try:
            audio = decode_audio(data, max_seconds=float(prompt.get("max_seconds", 60)) + 30)
        except AudioDecodeError as exc:
            raise UploadRefused(str(exc), reason=f"audio_{exc.code}") from exc
        for old in [c for c in photo_set.voice_clips if c.prompt_key == prompt_key]:
            self._delete_clip(old)
        clip = VoiceClip(
            set_id=photo_set.id,
            user_id=user.id,
            prompt_key=prompt_key,
            state=PhotoState.CHECKING,
            duration_s=audio.duration_s,
            sample_rate=audio.sample_rate,
            created_at=self.clock.now(),
            source_format=(audio.codec or audio.container or "")[:20],
            blob_key="",
        )
        photo_set.voice_clips.append(clip)
        self.session.flush()
        clip.blob_key = blob_key(keyholder(photo_set), "voice", clip.id, clip.version)
        self.put_sealed(photo_set, clip.blob_key, clip.version, wav_bytes(audio))
        self.b.queue.enqueue(self.session, VOICE_GATES_JOB, {"clip_id": clip.id}, dedupe_key=f"clip:{clip.id}")
        self.audit.record(Actor(user.subject_id, "contributor"), "voice.uploaded", "voice_clip", clip.id)
        return clip

    def _delete_clip(self, clip: VoiceClip) -> None:
        key = clip.blob_key
        if clip in clip.photo_set.voice_clips:
            clip.photo_set.voice_clips.remove(clip)
        self.session.delete(clip)
        self.session.flush()
        blobs = self.b.blobs
        on_commit(self.session, lambda: blobs.delete(key))

    def read_voice(self, clip: VoiceClip) -> bytes:
        return self.read_sealed(clip.photo_set, clip.blob_key, clip.version)

UPLOAD_PREFIX = "e/"


def upload_references(session: Session) -> set[str]:
    """Every contribution blob key a row refers to (photos, thumbnails, face encodings, voice clips)."""
    referenced: set[str] = set()
    for row in session.execute(select(Photo.blob_key, Photo.thumb_key, Photo.encoding_key)):
        referenced.update(k for k in row if k)
    referenced.update(session.scalars(select(VoiceClip.blob_key)))
    return referenced


def referenced_uploads(session: Session, keys: Collection[str]) -> set[str]:
    """Those of `keys` that a row refers to now, one IN query per 500 keys: the orphan sweep re-checks its
    candidates just before deleting them, since a blob under a fixed key (a face encoding a re-run check writes
    again) may have been referred to again since the listing."""
    found: set[str] = set()
    ordered = sorted(keys)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start:start + 500]
        query: CompoundSelect[tuple[str | None]] = union_all(
            select(Photo.blob_key.label("key")).where(Photo.blob_key.in_(chunk)),
            select(Photo.thumb_key).where(Photo.thumb_key.in_(chunk)),
            select(Photo.encoding_key).where(Photo.encoding_key.in_(chunk)),
            select(VoiceClip.blob_key).where(VoiceClip.blob_key.in_(chunk)),
        )
        found.update(k for k in session.scalars(select(query.subquery().c.key)) if k)
    return found


def _as_stored_time(moment: Any) -> Any:
    """Cameras mostly write local wall-clock time with no zone; it is kept as written (labelled UTC) because
    only its date is used (the contributor's age at capture)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=dt.UTC)


def wav_bytes(audio: Any) -> bytes:
    """16-bit PCM WAV rebuilt from the decoded samples: no tags or chunks of the original survive."""
    import wave

    samples = np.clip(np.asarray(audio.samples, dtype=np.float32), -1.0, 1.0)
    pcm = (samples * 32767.0).astype("<i2").tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(audio.sample_rate))
        w.writeframes(pcm)
    return out.getvalue()
