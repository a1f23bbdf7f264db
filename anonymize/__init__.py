"""anonymize: make accepted photos and recordings releasable, and prove a release is clean before approval.

Pure library (numpy, Pillow, OpenCV, dlib, PyAV, mutagen, pycryptodome; no web framework, no database):

- `scrub_image` / `scrub_audio`: rebuild media from pixels or samples so no metadata survives; refuse the rest.
- `inspect_metadata`: datadam's own metadata parser (allow-list of harmless structure); `exiftool_tags` as an
  optional second opinion.
- `mask_bystanders` / `anonymize_photo`: solid fill over every face except the contributor's.
- `Pseudonymizer`: keyed, per-release HMAC pseudonyms.
- `k_anonymize`: generalise and suppress the released side table until every person's set of classes
  (their rows are linked by pseudonym) is shared by >= K distinct people.
- `scrub_text` / `find_pii`: Korean and English personal data in free text.
- `PackageWriter` / `verify_package`: streaming signed release packages and their independent verification;
  `sign_withdrawal_list` / `read_withdrawal_list` for signed withdrawal lists.

Errors are in `anonymize.errors`. Face models load lazily on first use.
"""

from __future__ import annotations

from anonymize._audio import AudioLimits, ScrubbedAudio, scrub_audio
from anonymize._exiftool import ExiftoolTag, exiftool_available, exiftool_tags, exiftool_tags_many
from anonymize._faces import (
    MASKING_DETECTORS,
    DetectorSettings,
    FaceBox,
    FaceCluster,
    cluster_faces,
    confirmed_faces,
    detect_faces,
    detect_faces_near,
    face_encodings,
)
from anonymize._formats import AUDIO_FORMATS, IMAGE_FORMATS, Sniffed, sniff
from anonymize._hierarchies import AgeBands, Hierarchy, MappingHierarchy, SuppressOnly, korean_regions
from anonymize._image import ImageLimits, ScrubbedMedia, decode_image, scrub_image
from anonymize._kanon import KAnonResult, k_anonymize, measured_k
from anonymize._manifest import DEFAULT_USE_TERMS, ManifestEntry, ReleaseInfo
from anonymize._masking import MaskResult, MaskSettings, faces_other_than, mask_bystanders
from anonymize._metadata import MetadataTag, disallowed_tags, inspect_metadata
from anonymize._package import PackageSummary, PackageWriter
from anonymize._pii import PiiFinding, TextScrub, find_pii, scrub_text
from anonymize._pipeline import AnonymizedPhoto, anonymize_photo, scrub_any
from anonymize._pseudonym import Pseudonymizer, new_release_key
from anonymize._signing import Ed25519Signer, Signer, verify_signature
from anonymize._verify import VerifyFailure, VerifyReport, package_statement_sha256, verify_package
from anonymize._withdrawal import WithdrawalList, read_withdrawal_list, sign_withdrawal_list

__all__ = [
    "AUDIO_FORMATS",
    "DEFAULT_USE_TERMS",
    "IMAGE_FORMATS",
    "MASKING_DETECTORS",
    "AgeBands",
    "AnonymizedPhoto",
    "AudioLimits",
    "DetectorSettings",
    "Ed25519Signer",
    "ExiftoolTag",
    "FaceBox",
    "FaceCluster",
    "Hierarchy",
    "ImageLimits",
    "KAnonResult",
    "ManifestEntry",
    "MappingHierarchy",
    "MaskResult",
    "MaskSettings",
    "MetadataTag",
    "PackageSummary",
    "PackageWriter",
    "PiiFinding",
    "Pseudonymizer",
    "ReleaseInfo",
    "ScrubbedAudio",
    "ScrubbedMedia",
    "Signer",
    "Sniffed",
    "SuppressOnly",
    "TextScrub",
    "VerifyFailure",
    "VerifyReport",
    "WithdrawalList",
    "anonymize_photo",
    "cluster_faces",
    "confirmed_faces",
    "decode_image",
    "detect_faces",
    "detect_faces_near",
    "disallowed_tags",
    "exiftool_available",
    "exiftool_tags",
    "exiftool_tags_many",
    "face_encodings",
    "faces_other_than",
    "find_pii",
    "inspect_metadata",
    "k_anonymize",
    "korean_regions",
    "mask_bystanders",
    "measured_k",
    "new_release_key",
    "read_withdrawal_list",
    "scrub_any",
    "scrub_audio",
    "scrub_image",
    "scrub_text",
    "sign_withdrawal_list",
    "sniff",
    "package_statement_sha256",
    "verify_package",
    "verify_signature",
]
