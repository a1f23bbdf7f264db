"""PhotoRules: defaults, JSON loading and validation that names the bad key."""

from __future__ import annotations

import json
import math

import pytest

from quality_gates import DEFAULT_RULES, PhotoRules, RulesError


def test_defaults_are_valid_and_round_trip_through_json() -> None:
    DEFAULT_RULES.validate()
    data = json.loads(json.dumps(DEFAULT_RULES.to_dict()))
    assert PhotoRules.from_dict(data) == DEFAULT_RULES


def test_subset_overrides_and_types_are_coerced() -> None:
    rules = PhotoRules.from_dict({"min_face_side_px": 150.0, "max_yaw_deg": 20, "allowed_formats": ["jpeg"]})
    assert rules.min_face_side_px == 150 and isinstance(rules.min_face_side_px, int)
    assert rules.max_yaw_deg == 20.0 and isinstance(rules.max_yaw_deg, float)
    assert rules.allowed_formats == ("JPEG",)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"min_face_size": 100}, "min_face_size"),
        ({"min_face_side_px": "big"}, "min_face_side_px"),
        ({"min_face_side_px": True}, "min_face_side_px"),
        ({"min_face_side_px": 10.5}, "min_face_side_px"),
        ({"max_yaw_deg": -1}, "max_yaw_deg"),
        ({"max_yaw_deg": math.nan}, "max_yaw_deg"),
        ({"max_other_face_ratio": 1.5}, "max_other_face_ratio"),
        ({"allowed_formats": ["JPEG", "GIF"]}, "allowed_formats"),
        ({"allowed_formats": []}, "allowed_formats"),
        ({"allowed_formats": "JPEG"}, "allowed_formats"),
        ({"gates": ["face_found", "telepathy"]}, "gates"),
        ({"min_face_luma": 230}, "min_face_luma"),
        ({"duplicate_hamming_fail": 12}, "duplicate_hamming_fail"),
        ({"duplicate_hamming_review": 65, "duplicate_hamming_fail": 4}, "duplicate_hamming_review"),
    ],
)
def test_invalid_rules_name_the_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(RulesError) as info:
        PhotoRules.from_dict(data)
    assert info.value.key == key
    assert key in str(info.value)


def test_root_must_be_an_object() -> None:
    with pytest.raises(RulesError):
        PhotoRules.from_dict([1, 2])  # type: ignore[arg-type]


def test_rules_error_is_a_value_error_for_form_validation() -> None:
    with pytest.raises(ValueError):
        PhotoRules.from_dict({"nope": 1})
