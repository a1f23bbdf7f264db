"""The contributor's data export (right of access, GDPR Art. 15 / PIPA Art. 35): everything datadam holds about
one person as a zip with a JSON index - photos decrypted, voice recordings, consent receipts (the stored signed
bytes, verbatim), gate results, review decisions and appeals, payments, the payout account (bank, holder and
full account number: it is the person's own data) and the account's own fields.

The zip is written entry by entry to a file the caller provides (a temporary file in the web layer), so memory
stays bounded by one object at a time however large the set. Staff identities are left out (a decision says what
was decided and why, not who decided), as are face encodings: they are derived biometric templates useful to no
one but the gates, and exporting them would only create another copy of biometric data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from collection.accounts.models import User
from collection.audit.log import Actor, AuditLog
from collection.campaigns.models import Campaign
from collection.contributions.models import Enrollment, Photo, PhotoSet, VoiceClip
from collection.contributions.uploads import UploadService
from collection.errors import CryptoError, StorageError
from collection.payments.banks import BY_CODE
from collection.payments.models import LedgerEntry, PayoutAccount
from collection.review.models import Appeal, PhotoDecision
from consent.clock import Clock
from consent.models import ConsentRecord
from consent.service import ConsentService

FORMAT = "datadam-export/1"
INDEX = "index.json"


@dataclass(frozen=True)
class ExportSummary:
    """What went into the zip: counts per part and the objects that could not be read (erased keys)."""

    photos: int
    voice_clips: int
    receipts: int
    payments: int
    unreadable: tuple[str, ...]


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


class DataExport:
    """Builds one person's export. Collaborators come from the composition root."""

    def __init__(
        self, session: Session, clock: Clock, uploads: UploadService, consent: ConsentService, audit: AuditLog
    ) -> None:
        self.session = session
        self.clock = clock
        self.uploads = uploads
        self.consent = consent
        self.audit = audit

    def write(self, user: User, out: IO[bytes]) -> ExportSummary:
        """Write the zip to `out` (a seekable binary file) and record an audit event in the caller's
        transaction. Objects whose key was destroyed are listed in the index as unreadable, not fatal."""
        writer = _ZipWriter(out)
        sets = list(self.session.scalars(select(PhotoSet).where(PhotoSet.user_id == user.id)))
        campaigns = [self._campaign_part(writer, s) for s in sets]
        receipts = self._receipts(writer, self.consent.records(user.subject_id))
        payments = self._payments(user)
        index = {
            "format": FORMAT,
            "generated_at": _iso(self.clock.now()),
            "account": _account(user),
            "campaigns": campaigns,
            "consent_receipts": receipts,
            "payments": payments,
            "payout_account": self._payout_account(user),
            "files": writer.files,
            "unreadable": writer.unreadable,
            "not_included": ["face encodings (biometric templates derived for the checks)", "reviewer identities"],
        }
        writer.finish(index)
        summary = ExportSummary(
            photos=sum(len(c["photos"]) for c in campaigns),
            voice_clips=sum(len(c["voice"]) for c in campaigns),
            receipts=len(receipts),
            payments=len(payments),
            unreadable=tuple(writer.unreadable),
        )
        self.audit.record(
            Actor(user.subject_id, "contributor"),
            "export.generated",
            "subject",
            user.subject_id,
            photos=summary.photos,
            voice_clips=summary.voice_clips,
            receipts=summary.receipts,
        )
        self.session.flush()
        return summary

    # -- parts ---------------------------------------------------------------------------------------------------
    def _campaign_part(self, writer: _ZipWriter, photo_set: PhotoSet) -> dict[str, Any]:
        campaign = self.session.get(Campaign, photo_set.campaign_id)
        enrollment = self.session.get(Enrollment, photo_set.enrollment_id)
        slug = campaign.slug if campaign else photo_set.campaign_id
        decisions = self._decisions(photo_set)
        appeals = self._appeals(photo_set)
        return {
            "campaign": {
                "slug": slug,
                "title_ko": campaign.title_ko if campaign else None,
                "title_en": campaign.title_en if campaign else None,
            },
            "enrollment": None
            if enrollment is None
            else {
                "state": enrollment.state.value,
                "joined_at": _iso(enrollment.joined_at),
                "withdrawn_at": _iso(enrollment.withdrawn_at),
            },
            "set": {
                "state": photo_set.state.value,
                "round": photo_set.round,
                "created_at": _iso(photo_set.created_at),
                "submitted_at": _iso(photo_set.submitted_at),
                "decided_at": _iso(photo_set.decided_at),
            },
            "photos": [
                self._photo(writer, slug, p, decisions.get(p.id, []), appeals.get(p.id, [])) for p in photo_set.photos
            ],
            "voice": [self._clip(writer, slug, c) for c in photo_set.voice_clips],
        }

    def _photo(
        self,
        writer: _ZipWriter,
        slug: str,
        photo: Photo,
        decisions: list[dict[str, Any]],
        appeals: list[dict[str, Any]],
    ) -> dict[str, Any]:
        path = f"photos/{slug}/{photo.bracket}/{photo.id}.jpg"
        stored = writer.add_object(path, lambda: self.uploads.read_photo(photo), photo.id)
        return {
            "id": photo.id,
            "file": path if stored else None,
            "bracket": photo.bracket,
            "state": photo.state.value,
            "age_years": photo.age_years,
            "age_source": photo.age_source,
            "captured_at": _iso(photo.captured_at),
            "uploaded_at": _iso(photo.created_at),
            "original": {"width": photo.width, "height": photo.height, "format": photo.source_format},
            "replaces": photo.replaces_id,
            "your_note": photo.contributor_note,
            "gate_results": photo.gates or {},
            "identity_check": photo.identity or {},
            "review": {"reason": photo.review_reason, "comment": photo.review_comment},
            "decisions": decisions,
            "appeals": appeals,
        }

    def _clip(self, writer: _ZipWriter, slug: str, clip: VoiceClip) -> dict[str, Any]:
        path = f"voice/{slug}/{clip.prompt_key}-{clip.id}.wav"
        stored = writer.add_object(path, lambda: self.uploads.read_voice(clip), clip.id)
        return {
            "id": clip.id,
            "file": path if stored else None,
            "prompt": clip.prompt_key,
            "state": clip.state.value,
            "duration_s": clip.duration_s,
            "sample_rate": clip.sample_rate,
            "source_format": clip.source_format,
            "uploaded_at": _iso(clip.created_at),
            "gate_results": clip.gates or {},
        }

    def _decisions(self, photo_set: PhotoSet) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        q = select(PhotoDecision).where(PhotoDecision.set_id == photo_set.id).order_by(PhotoDecision.at)
        for d in self.session.scalars(q):
            out.setdefault(d.photo_id, []).append(
                {
                    "round": d.round,
                    "decision": d.decision.value,
                    "reason": d.reason.value if d.reason else None,
                    "comment": d.comment,
                    "at": _iso(d.at),
                }
            )
        return out

    def _appeals(self, photo_set: PhotoSet) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for a in self.session.scalars(select(Appeal).where(Appeal.set_id == photo_set.id).order_by(Appeal.filed_at)):
            out.setdefault(a.photo_id, []).append(
                {
                    "note": a.note,
                    "state": a.state.value,
                    "filed_at": _iso(a.filed_at),
                    "due_at": _iso(a.due_at),
                    "decided_at": _iso(a.decided_at),
                    "answer": a.answer,
                }
            )
        return out

    @staticmethod
    def _receipts(writer: _ZipWriter, records: Iterable[ConsentRecord]) -> list[dict[str, Any]]:
        out = []
        for record in records:
            path = f"consent/{record.id}.json"
            writer.add_bytes(path, record.receipt_bytes)  # the signed bytes, verbatim: verifiable offline
            out.append(
                {
                    "receipt_id": record.id,
                    "file": path,
                    "event": record.event,
                    "campaign_id": record.campaign_id,
                    "at": _iso(record.created_at),
                }
            )
        return out

    def _payments(self, user: User) -> list[dict[str, Any]]:
        q = select(LedgerEntry).where(LedgerEntry.user_id == user.id).order_by(LedgerEntry.created_at)
        out = []
        for entry in self.session.scalars(q):
            campaign = self.session.get(Campaign, entry.campaign_id)
            row: dict[str, Any] = {
                "campaign": campaign.slug if campaign else entry.campaign_id,
                "amount_krw": entry.amount_krw,
                "accepted_at": _iso(entry.created_at),
                "paid_at": _iso(entry.paid_at),
            }
            if entry.payee_bank_code:  # the account copied when the entry joined a payout batch
                row["paid_to"] = {"bank_code": entry.payee_bank_code, "account_holder": entry.payee_holder,
                                  "account_number": entry.payee_account_number}
            out.append(row)
        return out

    def _payout_account(self, user: User) -> dict[str, Any] | None:
        account = self.session.scalar(select(PayoutAccount).where(PayoutAccount.user_id == user.id))
        if account is None:
            return None
        known = BY_CODE.get(account.bank_code)
        return {
            "bank_code": account.bank_code,
            "bank_name": known.name_ko if known else None,
            "account_holder": account.holder_name,
            "account_number": account.account_number,
            "updated_at": _iso(account.updated_at),
        }


def _account(user: User) -> dict[str, Any]:
    return {
        "subject_id": user.subject_id,
        "email": user.email,
        "display_name": user.display_name,
        "birth_date": _iso(user.birth_date),
        "locale": user.locale,
        "created_at": _iso(user.created_at),
        "last_login_at": _iso(user.last_login_at),
    }


class _ZipWriter:
    """Adds entries one at a time (only the current object is in memory) and lists each with its SHA-256."""

    def __init__(self, out: IO[bytes]) -> None:
        self.zip = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED)
        self.files: list[dict[str, Any]] = []
        self.unreadable: list[str] = []

    def add_bytes(self, path: str, data: bytes, compress: bool = True) -> None:
        method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        self.zip.writestr(path, data, compress_type=method)
        self.files.append({"path": path, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})

    def add_object(self, path: str, read: Any, object_id: str) -> bool:
        """Decrypt and add one stored object; an erased key or a missing blob is recorded, not raised."""
        try:
            data = read()
        except (CryptoError, StorageError):
            self.unreadable.append(object_id)
            return False
        self.add_bytes(path, data, compress=not path.endswith(".jpg"))  # JPEGs do not compress further
        return True

    def finish(self, index: dict[str, Any]) -> None:
        body = json.dumps(index, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
        self.zip.writestr(INDEX, body)
        self.zip.close()
