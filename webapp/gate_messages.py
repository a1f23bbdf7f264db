"""Plain words for contributors: every gate reason code, every ContributionError code, the rejection taxonomy
and the "what is still missing" codes become one sentence saying what is wrong and one saying what to do, in the
contributor's language (Korean first; strings go through Babel).

The gates and services speak in stable codes (`GateResult.reason`, `ContributionError.code` plus
`detail["reason"]`, `RejectReason`, `ContributionService.missing`); this module is the only place those codes
meet words. An unknown code still gets an honest generic sentence (per gate where possible), never a raw code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from collection.errors import ContributionError


@dataclass(frozen=True)
class Advice:
    """What went wrong (`text`) and what to do about it (`advice`, may be empty)."""

    text: str
    advice: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"text": self.text, "advice": self.advice}


# --- gate reason codes ----------------------------------------------------------------------------------------
# (gate, reason) -> (what is wrong, what to do). Photo gates: decode, face_found, face_size, pose, occlusion,
# sharpness, exposure, duplicate, identity. Voice gates: decode, duration, sample_rate, clipping, snr,
# speech_ratio, silence.
_TOO_SMALL = (
    _l("Your face is too small in this photo."),
    _l("Move closer, or crop less so the face fills more of the picture."),
)
_NO_FACE = (
    _l("We could not find a face in this photo."),
    _l("Use a photo where your face is clearly visible, large enough and facing the camera."),
)
_MANY = (
    _l("There is more than one face of a similar size in this photo."),
    _l("Use a photo where you are clearly the main person, or crop the others out."),
)
_POSE = (
    _l("Your head is turned or tilted too much."),
    _l("Use a photo where you look straight at the camera."),
)
_MOUTH = (
    _l("Your nose or mouth is covered (for example by a mask)."),
    _l("Use a photo where your whole face is uncovered."),
)
_EYES = (
    _l("Your eyes are covered (for example by sunglasses)."),
    _l("Use a photo without sunglasses; clear glasses are fine."),
)
_COVERED = (
    _l("Part of your face is covered (for example by a hand or an object)."),
    _l("Use a photo where nothing covers your face."),
)
_BLUR = (_l("The photo is blurred."), _l("Use a sharper photo: hold the camera still and focus on the face."))
_DARK = (_l("Your face is too dark."), _l("Use a photo taken in better light, with light falling on your face."))
_BRIGHT = (_l("Your face is too bright (overexposed)."), _l("Use a photo without strong light or flash on the face."))
_DUP = (
    _l("This photo is the same as, or nearly the same as, another photo."),
    _l("Use a different photo: every photo must be a separate picture."),
)
_DIFFERENT = (
    _l("This photo may show a different person from the rest of your set."),
    _l("Check that it is a photo of you. If it is, ask a person to check it."),
)
_UNCERTAIN = (
    _l("We could not tell for sure that this photo shows the same person as the rest of your set."),
    _l("A person will check it. You can also replace it with a clearer photo of you."),
)
_BAD_FILE = (
    _l("This file could not be read as a photo."),
    _l("Upload a JPEG, PNG, WebP or HEIC photo straight from your camera or gallery."),
)
_BAD_AUDIO = (
    _l("This file could not be read as a recording."),
    _l("Record again, or upload a WebM, MP4/M4A, OGG, WAV, FLAC or MP3 file."),
)
_UNMEASURABLE = (
    _l("We could not measure this automatically."),
    _l("A person will check it. A sharp photo of your face, looking at the camera, avoids the wait."),
)
_NO_SPEECH = (
    _l("We could not hear any speech."),
    _l("Record again and read the sentence aloud, close to the microphone."),
)

GATE_REASONS: dict[tuple[str, str], tuple[Any, Any]] = {
    # photo: reading the file (quality_gates.ImageDecodeError.code)
    ("decode", "unsupported_format"): _BAD_FILE,
    ("decode", "corrupt"): _BAD_FILE,
    ("decode", "unreadable"): _BAD_FILE,
    ("decode", "too_large"): (_l("The photo is too large."), _l("Upload a smaller photo (fewer megapixels).")),
    ("decode", "decompression_bomb"): (_l("The photo is too large."), _l("Upload a smaller photo (fewer megapixels).")),
    # photo: the face
    ("face_found", "no_face"): _NO_FACE,
    ("face_found", "multiple_faces"): _MANY,
    ("face_found", "no_landmarks"): (
        _l("We found a face but could not measure its features."),
        _l("A person will check it. A sharp photo facing the camera avoids the wait."),
    ),
    ("face_size", "too_small"): _TOO_SMALL,
    ("face_size", "low_resolution"): (
        _l("This picture has too few pixels for your face to be checked."),
        _l("Upload the original photo file, not a thumbnail, screenshot or messenger copy, or scan the print at a "
           "higher resolution."),
    ),
    ("face_size", "too_small_in_frame"): (
        _l("Your face takes up too little of the picture."),
        _l("Crop the photo closer around your face, or take it from closer."),
    ),
    ("pose", "yaw"): _POSE,
    ("pose", "pitch"): _POSE,
    ("pose", "roll"): _POSE,
    ("pose", "unmeasurable"): _UNMEASURABLE,
    ("occlusion", "mouth_covered"): _MOUTH,
    ("occlusion", "eyes_covered"): _EYES,
    ("occlusion", "possibly_covered"): (
        _l("Something may cover part of your face."),
        _l("A person will check it. You can also replace it with a photo where nothing covers your face."),
    ),
    ("occlusion", "unmeasurable"): _UNMEASURABLE,
    ("sharpness", "blurry"): _BLUR,
    ("sharpness", "unmeasurable"): _UNMEASURABLE,
    ("exposure", "too_dark"): _DARK,
    ("exposure", "too_bright"): _BRIGHT,
    ("duplicate", "duplicate"): _DUP,
    ("duplicate", "near_duplicate"): (
        _l("This photo looks very much like another photo."),
        _l("A person will check it. If it is a copy of the same picture, use a different photo."),
    ),
    # a check that could not run at all (collection.contributions.gates.reconcile_failed_checks)
    ("check", "check_failed"): (
        _l("Our automatic check could not process this file."),
        _l("A person will check it instead; you do not need to do anything."),
    ),
    # identity across the set (quality_gates.check_set)
    ("identity", "different_person"): _DIFFERENT,
    ("identity", "uncertain"): _UNCERTAIN,
    ("identity", "weak_evidence"): (
        _l("We could not compare this photo closely with your other photos: they are from quite different ages."),
        _l("A person will check it. Photos from nearby ages in the other brackets make the comparison easier."),
    ),
    ("identity", "no_face"): (
        _l("We could not compare this photo with the rest of your set: no face could be measured in it."),
        _l("A person will check it. You can also replace it with a clearer photo of your face."),
    ),
    # voice (the "decode" gate of a recording has its own words: VOICE_DECODE below)
    ("duration", "too_short"): (
        _l("The recording is too short."),
        _l("Read the whole sentence at a calm pace; start recording before you speak."),
    ),
    ("duration", "too_long"): (
        _l("The recording is too long."),
        _l("Read only the sentence shown and stop the recording when you finish."),
    ),
    ("sample_rate", "too_low"): (
        _l("The sound quality is too low (low sample rate)."),
        _l("Record in the browser here, or use your phone's voice recorder at its normal quality."),
    ),
    ("clipping", "clipped"): (
        _l("The recording is distorted because it is too loud."),
        _l("Hold the microphone a little further away or speak a little more softly."),
    ),
    ("snr", "too_noisy"): (
        _l("There is too much background noise."),
        _l("Record again in a quiet room, away from traffic, fans or music."),
    ),
    ("snr", "borderline"): (
        _l("There is some background noise."),
        _l("A person will check it. Recording again in a quieter place avoids the wait."),
    ),
    ("snr", "no_speech"): _NO_SPEECH,
    ("snr", "unmeasurable"): (
        _l("We could not measure the background noise."),
        _l("A person will check it."),
    ),
    ("speech_ratio", "no_speech"): _NO_SPEECH,
    ("speech_ratio", "steady_signal"): (
        _l("The recording sounds like a steady tone or noise, not speech."),
        _l("Record again and read the sentence aloud."),
    ),
    ("speech_ratio", "too_little_speech"): (
        _l("Most of the recording is silence."),
        _l("Start speaking soon after you press record and stop when you finish."),
    ),
    ("silence", "no_speech"): _NO_SPEECH,
    ("silence", "leading_silence"): (
        _l("There is a long silence before you start speaking."),
        _l("Start speaking soon after you press record."),
    ),
    ("silence", "trailing_silence"): (
        _l("There is a long silence after you finish speaking."),
        _l("Stop the recording soon after you finish the sentence."),
    ),
}

# A recording's "decode" gate (quality_gates.AudioDecodeError.code).
_TOO_LONG_AUDIO = (_l("The recording is far too long."), _l("Record only the sentence shown."))
VOICE_DECODE: dict[str, tuple[Any, Any]] = {
    "too_large": _TOO_LONG_AUDIO,
    "too_long": _TOO_LONG_AUDIO,
    "unsupported_format": _BAD_AUDIO,
    "no_audio": _BAD_AUDIO,
    "corrupt": _BAD_AUDIO,
    "unreadable": _BAD_AUDIO,
}

# Fallbacks per gate when a reason code is new to this table: still plain words, never a raw code.
GATE_FALLBACK: dict[str, tuple[Any, Any]] = {
    "decode": _BAD_FILE,
    "face_found": _NO_FACE,
    "face_size": _TOO_SMALL,
    "pose": _POSE,
    "occlusion": _COVERED,
    "sharpness": _BLUR,
    "exposure": (_l("The light on your face is not good enough."), _l("Use a photo with even light on the face.")),
    "duplicate": _DUP,
    "identity": _UNCERTAIN,
    "duration": (_l("The recording's length is outside the limits."), _l("Read the whole sentence, then stop.")),
    "sample_rate": (_l("The sound quality is too low."), _l("Record again in the browser here.")),
    "clipping": (_l("The recording is distorted."), _l("Speak a little more softly or further from the microphone.")),
    "snr": (_l("There is too much background noise."), _l("Record again in a quiet room.")),
    "speech_ratio": _NO_SPEECH,
    "silence": (_l("There is too much silence in the recording."), _l("Start and stop closer to your speech.")),
}


def gate_advice(gate: str, reason: str | None, review: bool = False, voice: bool = False) -> Advice:
    """Words for one failed (or undecided) gate of a photo (or of a recording, `voice`). A reason new to the
    table still gets honest words: the gate's usual failure, or for an undecided result, that a person will look."""
    if voice and gate == "decode":
        words = VOICE_DECODE.get(reason or "", _BAD_AUDIO)
        return Advice(str(words[0]), str(words[1]))
    words = GATE_REASONS.get((gate, reason or ""))
    if words is None and review:
        return Advice(_("An automatic check could not decide about this item."), _("A person will check it."))
    words = words or GATE_FALLBACK.get(gate)
    if words is None:
        return Advice(_("An automatic check did not pass."), _("Replace it, or ask a person to check it."))
    return Advice(str(words[0]), str(words[1]))


@dataclass(frozen=True)
class GateNote:
    """One gate outcome as shown to the contributor."""

    gate: str
    reason: str | None
    verdict: str  # "fail" | "review" | "info" (passed, but worth knowing)
    advice: Advice

    def to_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "reason": self.reason, "verdict": self.verdict, **self.advice.to_dict()}


def gate_notes(
    report: Mapping[str, Any] | None, identity: Mapping[str, Any] | None = None, voice: bool = False,
    to_replace: bool = False,
) -> list[GateNote]:
    """The failed and undecided gates of a stored report (PhotoReport/VoiceReport.to_dict(), `voice` for the
    latter), failures first, plus the identity verdict of the set gate when it flagged or could not decide.
    `to_replace`: the item failed and is to be replaced (no person was asked to look at it instead)."""
    notes = []
    for gate in (report or {}).get("gates", []):
        verdict = gate.get("verdict") or ("pass" if gate.get("passed") else "fail")
        others = int((gate.get("measured") or {}).get("faces", 0) or 0) - 1
        if verdict == "pass" and gate.get("name") == "face_found" and others > 0:
            # it passes (the contributor's face dominates) but other people are in it: say what happens to them
            notes.append(GateNote("face_found", "other_faces", "info", Advice(
                _("Other people's faces are in this photo too (%(n)d).", n=others),
                _("They are covered over before any release. A photo of you alone is best."))))
        if verdict == "pass":
            continue
        name, reason = str(gate.get("name", "")), gate.get("reason")
        notes.append(GateNote(name, reason, verdict, gate_advice(name, reason, verdict == "review", voice)))
    verdict = (identity or {}).get("verdict")
    if verdict in ("flag", "review"):
        reason = (identity or {}).get("reason") or ("different_person" if verdict == "flag" else "uncertain")
        shown = "fail" if verdict == "flag" else "review"
        notes.append(GateNote("identity", reason, shown, gate_advice("identity", reason, shown == "review")))
    if to_replace and any(n.verdict == "fail" and n.gate != "identity" for n in notes):
        # The item has to be replaced anyway (an identity flag alone may instead go to a person): "a person will
        # check it" would contradict that, so an undecided check only asks to mind the point in the replacement.
        also = _("Mind this too in the recording you send instead.") if voice else _(
            "Mind this too in the photo you choose instead.")
        notes = [GateNote(n.gate, n.reason, n.verdict, Advice(n.advice.text, also)) if n.verdict == "review" else n
                 for n in notes]
    return sorted(notes, key=lambda n: n.verdict != "fail")


# --- states ---------------------------------------------------------------------------------------------------
PHOTO_STATES = {
    "checking": _l("Checking…"),
    # a photo or recording waiting for its checks while processing is suspended at the contributor's request
    "suspended": _l("Processing suspended: checked once it is lifted"),
    "passed": _l("Passed the checks"),
    "failed": _l("Did not pass: replace it"),
    "needs_review": _l("A person will check it"),
    "accepted": _l("Accepted"),
    "rejected": _l("Rejected: please replace"),
    "replaced": _l("Replaced"),
}
SET_STATES = {
    "draft": _l("Not sent yet"),
    "submitted": _l("Waiting for review"),
    "in_review": _l("In review"),
    "awaiting_second_review": _l("In review (second reviewer)"),
    "changes_requested": _l("Changes requested"),
    "accepted": _l("Accepted: payment is on its way"),
    "paid": _l("Paid"),
    "withdrawn": _l("Withdrawn"),
}


def photo_state_label(state: str) -> str:
    return str(PHOTO_STATES.get(state, state))


def set_state_label(state: str) -> str:
    return str(SET_STATES.get(state, state))


# --- operator rejection reasons (collection.review.models.RejectReason) ------------------------------------
REJECT_REASONS: dict[str, tuple[Any, Any]] = {
    "face_too_small": _TOO_SMALL,
    "occluded": (  # the reviewer's reason names masks and sunglasses too: say the same
        _l("The reviewer found your face partly covered (by a mask, sunglasses or a hand)."),
        _l("Use a photo where nothing covers your face; clear glasses are fine."),
    ),
    "different_person": (
        _l("The reviewer believes this photo shows someone else."),
        _l("Replace it with a photo of you at that age. If it is you, appeal with a note."),
    ),
    "wrong_bracket": (
        _l("The photo does not seem to belong to this age bracket."),
        _l("Replace it with a photo of you at an age inside the bracket, or correct the age."),
    ),
    "blurred": _BLUR,
    "duplicate": _DUP,
    "screen_or_print": (
        _l("This looks like a photo of a screen or of a printed picture."),
        _l("Upload the original digital photo; if you only have a print, scan it flat in good light."),
    ),
    "edited": (
        _l("The photo looks edited or filtered."),
        _l("Upload the original photo without filters, beauty effects or edits."),
    ),
    "other": (_l("The reviewer rejected this photo."), _l("Read the reviewer's comment and replace the photo.")),
}


def reject_advice(reason: str | None) -> Advice:
    words = REJECT_REASONS.get(reason or "other", REJECT_REASONS["other"])
    return Advice(str(words[0]), str(words[1]))


# --- what keeps a set from being submitted (ContributionService.missing) ---------------------------------------
def missing_text(code: str, prompts: Mapping[str, str] | None = None) -> str:
    """`bracket:<key>:needs:<n>`, `bracket:<key>:blocking:<n>`, `voice:<prompt>` in words."""
    parts = code.split(":")
    if parts[0] == "bracket" and len(parts) == 4 and parts[3].isdigit():
        n = int(parts[3])
        if parts[2] == "needs":
            return _("Ages %(bracket)s: add %(n)d more photo(s).", bracket=parts[1].replace("-", "–"), n=n)
        return _(
            "Ages %(bracket)s: %(n)d photo(s) are still being checked or need to be replaced.",
            bracket=parts[1].replace("-", "–"),  # as the bracket headings write it
            n=n,
        )
    if parts[0] == "voice" and len(parts) >= 2:
        label = (prompts or {}).get(parts[1], parts[1])
        return _("Recording “%(prompt)s”: record it, or replace a recording that did not pass.", prompt=label)
    return _("Something in the set is not complete yet.")


def missing_texts(codes: Iterable[str], prompts: Mapping[str, str] | None = None) -> list[str]:
    return [missing_text(c, prompts) for c in codes]


# --- refusals of a contribution step (collection.errors.ContributionError) -------------------------------------
def _megabytes(detail: Mapping[str, Any]) -> int:
    return max(1, int(detail.get("max_bytes", 0) or 0) // (1024 * 1024))


def _upload_refused(detail: Mapping[str, Any]) -> Advice:
    reason = str(detail.get("reason", ""))
    if reason in ("too_large", "TooLarge", "DecompressionBomb"):
        limit = _megabytes(detail)
        return Advice(
            _("The file is too large."),
            _("Upload a photo under %(mb)d MB, or a smaller copy of it.", mb=limit)
            if detail.get("max_bytes")
            else _("Upload a smaller copy of the photo."),
        )
    if reason == "bracket_full":
        return Advice(
            _("This age bracket already has all the photos it needs."),
            _("Remove a photo from it first, or use “Replace” on the photo you want to change."),
        )
    if reason == "bracket":
        return Advice(_("This age bracket does not exist in the campaign."), _("Reload the page and try again."))
    if reason == "age_outside_bracket":
        return Advice(
            _("You gave age %(age)d, but this bracket is for ages %(lo)d to %(hi)d.", age=int(detail.get("age", 0)),
              lo=int(detail.get("min_age", 0)), hi=int(detail.get("max_age", 0))),
            _("Check the age, or upload the photo to the bracket of that age."),
        )
    if reason == "age_above_own":
        return Advice(
            _("You gave age %(age)d, but you are %(own)d now.", age=int(detail.get("age", 0)),
              own=int(detail.get("own", 0))),
            _("Give your age when the photo was taken."),
        )
    if reason == "prompt":
        return Advice(_("This recording prompt does not exist in the campaign."), _("Reload the page and try again."))
    if reason.startswith("audio_"):
        code = reason.removeprefix("audio_")
        if code in ("too_large", "too_long"):
            return Advice(_("The recording is too long or too large."), _("Record only the sentence shown."))
        return Advice(str(_BAD_AUDIO[0]), str(_BAD_AUDIO[1]))
    return Advice(str(_BAD_FILE[0]), str(_BAD_FILE[1]))


def _not_eligible(detail: Mapping[str, Any]) -> Advice:
    reason = detail.get("reason")
    if reason == "age":
        return Advice(
            _(
                "This campaign is for people aged %(lo)d to %(hi)d.",
                lo=int(detail.get("min_age", 0)),
                hi=int(detail.get("max_age", 0)),
            ),
            _("Have a look at the other open campaigns."),
        )
    if reason == "quota":
        return Advice(
            _("This campaign already has all the contributors it needs."), _("Have a look at the other open campaigns.")
        )
    if reason == "withdrawn":
        return Advice(_("You withdrew from this campaign, so you cannot take part in it again."))
    if reason == "notice_outdated":
        return Advice(_("The campaign's consent document is being updated to its new settings."),
                      _("Please come back later."))
    if reason == "not_enrolled":
        return Advice(_("You have not joined this campaign yet."), _("Open the campaign page and choose “Join”."))
    if reason == "closed_set":
        return Advice(_("This campaign has closed: a set that was not sent for review before the close can no longer "
                        "be added to or sent."),
                      _("You can still delete the photos you uploaded. Have a look at the other open campaigns."))
    return Advice(_("This campaign is not open for contributions."), _("Have a look at the other open campaigns."))


def error_advice(err: ContributionError, prompts: Mapping[str, str] | None = None) -> Advice:
    """Words for a refused contribution step, from its stable `code` and `detail`."""
    detail = err.detail
    if err.code == "not_eligible":
        return _not_eligible(detail)
    if err.code == "consent_required" and detail.get("matter") == "voice_recording":
        return Advice(
            _("You have not consented to voice recording in this campaign."),
            _("To record, give the voice recording consent on the campaign's consent page."),
        )
    if err.code == "consent_required" and detail.get("reason") == "suspended":
        return Advice(
            _("Processing of your data in this campaign is suspended at your request, so nothing can be uploaded "
              "or sent for review now."),
            _("When the suspension ends you can continue: you can end it yourself on the My rights page."),
        )
    if err.code == "consent_required":
        return Advice(
            _("Your consent for this campaign is not in force (or the consent document changed)."),
            _("Read and sign the consent document of this campaign, then try again."),
        )
    if err.code == "upload_refused":
        return _upload_refused(detail)
    if err.code == "duplicate_photo":
        return Advice(
            _(
                "This photo, or one nearly identical to it, is already in your set (ages %(bracket)s).",
                bracket=str(detail.get("bracket", "?")).replace("-", "–"),
            ),
            _("Choose a different photo: every photo must be a separate picture."),
        )
    if err.code == "set_not_ready":
        items = missing_texts(detail.get("missing", []) or [], prompts)  # type: ignore[arg-type]
        return Advice(_("The set is not complete yet."), " ".join(items))
    if err.code == "invalid_transition":
        return Advice(
            _("This cannot be done now: your set is being reviewed, or this step was already done."),
            _("Reload the page to see the current state."),
        )
    return Advice(_("This step is not possible right now."), _("Reload the page and try again."))
