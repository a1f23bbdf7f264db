"""quality_gates: automatic, explainable checks of contributed photos and recordings.

Pure library: bytes or arrays in, frozen dataclasses out. No web framework, no database. Heavy face models
load lazily, once, on first use.
"""

from quality_gates._audio import Audio, AudioDecodeError, decode_audio
from quality_gates._decode import DecodedImage, decode_image
from quality_gates._faces import DlibFaceAnalyzer, FaceAnalyzer, FakeFaceAnalyzer, default_analyzer
from quality_gates._hash import hamming, perceptual_hash
from quality_gates._identity import (
    AgeBracket,
    IdentityRules,
    IdentitySetReport,
    IdentityVerdict,
    PhotoIdentity,
    SetPhoto,
    check_set,
    pair_same_person,
    parse_bracket,
)
from quality_gates._photo import check_duplicate, check_photo
from quality_gates._report import FaceInfo, GateResult, PhotoReport, Verdict, combine_verdicts
from quality_gates._rules import DEFAULT_RULES, PhotoRules
from quality_gates._voice import VoiceReport, VoiceRules, check_voice, check_voice_bytes
from quality_gates.errors import (
    CorruptImage,
    DecompressionBomb,
    ImageDecodeError,
    ModelUnavailable,
    QualityGateError,
    RulesError,
    TooLarge,
    UnsupportedFormat,
)

__all__ = [
    "DEFAULT_RULES",
    "AgeBracket",
    "Audio",
    "AudioDecodeError",
    "CorruptImage",
    "DecodedImage",
    "DecompressionBomb",
    "DlibFaceAnalyzer",
    "FaceAnalyzer",
    "FaceInfo",
    "FakeFaceAnalyzer",
    "GateResult",
    "IdentityRules",
    "IdentitySetReport",
    "IdentityVerdict",
    "ImageDecodeError",
    "ModelUnavailable",
    "PhotoIdentity",
    "PhotoReport",
    "PhotoRules",
    "QualityGateError",
    "RulesError",
    "SetPhoto",
    "TooLarge",
    "UnsupportedFormat",
    "Verdict",
    "VoiceReport",
    "VoiceRules",
    "check_duplicate",
    "check_photo",
    "check_set",
    "check_voice",
    "check_voice_bytes",
    "combine_verdicts",
    "decode_audio",
    "decode_image",
    "default_analyzer",
    "hamming",
    "pair_same_person",
    "parse_bracket",
    "perceptual_hash",
]
