"""k-anonymity of the released side table: class sizes count distinct people, not rows.

Tables without a subject column here are one row per person and say so with `subject_key=None`."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anonymize import AgeBands, MappingHierarchy, k_anonymize, korean_regions, measured_k
from anonymize.errors import KAnonymityError

QI = ("age_bracket", "gender", "region")
HIERARCHIES = {"age_bracket": AgeBands(), "region": korean_regions()}


def _records(count: int, seed: int = 1) -> list[dict[str, str]]:
    rng = random.Random(seed)
    brackets = ["0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+"]
    regions = ["서울 강남구", "서울 마포구", "경기 수원시", "부산", "대구", "제주", "강원", "전남", "Seoul", "Incheon"]
    return [
        {"item": str(n), "age_bracket": rng.choice(brackets), "gender": rng.choice("FM"), "region": rng.choice(regions)}
        for n in range(count)
    ]


def _classes(records: list[dict[str, str]]) -> Counter[tuple[str, ...]]:
    return Counter(tuple(r[q] for q in QI) for r in records if any(r[q] != "*" for q in QI))


def test_result_is_k_anonymous_and_reports_what_it_did() -> None:
    result = k_anonymize(_records(400), QI, 5, HIERARCHIES, subject_key=None)
    assert result.k_achieved >= 5 and result.satisfied
    assert min(_classes(result.records).values()) >= 5
    assert set(result.generalised) == set(QI)
    assert result.suppressed_count <= 0.05 * 400
    assert [r["item"] for r in result.records] == [str(n) for n in range(400)]


def test_generalises_only_as_far_as_needed() -> None:
    records = [{"age_bracket": b, "gender": g, "region": "서울"} for b in ("20-29", "30-39") for g in "FM"] * 5
    result = k_anonymize(records, QI, 5, HIERARCHIES, subject_key=None)
    assert result.generalised == {"age_bracket": "as collected", "gender": "as collected", "region": "as collected"}
    assert result.suppressed_count == 0 and result.k_achieved == 5


def test_small_cells_force_wider_brackets() -> None:
    records = [{"age_bracket": b, "gender": "F", "region": "서울"} for b in ("20-29", "30-39")] * 3
    result = k_anonymize(records, QI, 5, HIERARCHIES, max_suppression=0, subject_key=None)
    assert result.generalised["age_bracket"] == "20-year"
    assert {r["age_bracket"] for r in result.records} == {"20-39"}


def test_outliers_are_suppressed_within_budget() -> None:
    records = [{"age_bracket": "30-39", "gender": "F", "region": "서울"}] * 20
    records.append({"age_bracket": "70+", "gender": "M", "region": "제주"})
    result = k_anonymize(records, QI, 5, HIERARCHIES, max_suppression=0.1, subject_key=None)
    assert result.suppressed_count == 1
    assert result.records[-1] == {"age_bracket": "*", "gender": "*", "region": "*"}
    assert result.generalised["age_bracket"] == "as collected" and result.k_achieved == 20


def test_fewer_than_k_records_are_all_suppressed() -> None:
    records = [{"age_bracket": "30-39", "gender": "F", "region": "서울"}] * 3
    result = k_anonymize(records, QI, 5, subject_key=None)
    assert result.suppressed_count == 3 and result.k_achieved == 0 and result.satisfied


def test_hierarchies() -> None:
    ages = AgeBands()
    assert [ages.generalise("34", level) for level in range(4)] == ["34", "30-39", "20-39", "*"]
    assert ages.generalise("85", 1) == "80+" and ages.generalise("70+", 2) == "60+"
    assert ages.generalise("unknown", 1) == "*"
    regions = korean_regions()
    assert [regions.generalise("서울 강남구", level) for level in range(4)] == ["서울 강남구", "서울", "수도권", "*"]
    assert regions.generalise("Busan", 2) == "영남권" and regions.generalise("Atlantis", 1) == "*"
    assert MappingHierarchy(({"a": "b"},), ("x",)).levels == ("as collected", "x", "suppressed")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"k": 0}, "k"),
        ({"quasi_identifiers": []}, "quasi_identifiers"),
        ({"max_suppression": 2}, "max_suppression"),
        ({"hierarchies": {"colour": AgeBands()}}, "hierarchies"),
    ],
)
def test_invalid_input(kwargs: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {"records": _records(10), "quasi_identifiers": QI, "subject_key": None, **kwargs}
    with pytest.raises(KAnonymityError) as caught:
        k_anonymize(**arguments)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_missing_quasi_identifier_names_the_record() -> None:
    with pytest.raises(KAnonymityError, match=r"records\[1\]"):
        k_anonymize([{"age_bracket": "1", "gender": "F", "region": "x"}, {"gender": "F"}], QI, subject_key=None)


def _photos(people: dict[str, tuple[str, str, str]], photos: int = 10) -> list[dict[str, str]]:
    """`photos` rows per person, as a release has: one row per photo, all carrying the person's subject id."""
    return [
        {"item": f"{subject}-{n}", "subject_id": subject, "age_bracket": age, "gender": gender, "region": region}
        for subject, (age, gender, region) in people.items()
        for n in range(photos)
    ]


def _people_per_class(records: list[dict[str, str]]) -> dict[tuple[str, ...], int]:
    members: dict[tuple[str, ...], set[str]] = {}
    for r in records:
        if any(r[q] != "*" for q in QI):
            members.setdefault(tuple(r[q] for q in QI), set()).add(r["subject_id"])
    return {cls: len(subjects) for cls, subjects in members.items()}


def test_one_person_alone_in_a_class_is_one_not_ten() -> None:
    # Three contributors, ten photos each, each alone in their bracket: counted in rows every class had k=10.
    records = _photos({f"p{i}": (bracket, "F", "서울") for i, bracket in enumerate(["20-29", "30-39", "40-49"])})
    assert measured_k(records, QI, subject_key=None) == 10  # the old, row-counting figure
    assert measured_k(records, QI) == 1
    result = k_anonymize(records, QI, 5, HIERARCHIES)
    # Three people can never make a class of five: everything is suppressed, nothing released as collected.
    assert result.k_achieved == 0 and result.suppressed_count == 30 and result.satisfied
    assert all(all(r[q] == "*" for q in QI) for r in result.records)
    assert [r["subject_id"] for r in result.records] == [r["subject_id"] for r in records]


def test_brackets_widen_until_a_class_holds_k_people() -> None:
    # Three people per ten-year bracket, thirty photos per class: rows said k=30, people say 3 < 5.
    people = {f"p{i}": ("20-29" if i < 3 else "30-39", "F", "서울") for i in range(6)}
    records = _photos(people)
    assert k_anonymize(records, QI, 5, HIERARCHIES, subject_key=None).generalised["age_bracket"] == "as collected"
    result = k_anonymize(records, QI, 5, HIERARCHIES)
    assert result.generalised["age_bracket"] == "20-year" and result.suppressed_count == 0
    assert {r["age_bracket"] for r in result.records} == {"20-39"}
    assert result.k_achieved == 6 and _people_per_class(result.records) == {("20-39", "F", "서울"): 6}


def test_suppression_takes_every_row_of_a_class_with_too_few_people() -> None:
    records = _photos({f"p{i}": ("30-39", "F", "서울") for i in range(20)}, photos=5)
    records += _photos({"loner": ("70+", "M", "제주")})
    result = k_anonymize(records, QI, 5, HIERARCHIES, max_suppression=0.1)
    assert result.generalised["age_bracket"] == "as collected"
    assert result.suppressed_count == 10 and result.k_achieved == 20
    loner = [r for r in result.records if r["subject_id"] == "loner"]
    assert len(loner) == 10 and all(all(r[q] == "*" for q in QI) for r in loner)


def test_a_person_linked_across_classes_by_their_pseudonym_is_a_class_of_their_own() -> None:
    # Five people in their 20s, five in their 30s, and one person with photos from both decades: each row class
    # holds six people, but the pseudonym links the bridge's rows, and nobody else spans both decades.
    records = _photos({f"a{i}": ("20-29", "F", "서울") for i in range(5)})
    records += _photos({f"b{i}": ("30-39", "F", "서울") for i in range(5)})
    records += [{**row, "item": f"{row['item']}-{n}"} for n, row in enumerate(
        _photos({"bridge": ("20-29", "F", "서울")}) + _photos({"bridge": ("30-39", "F", "서울")}))]
    assert min(_people_per_class(records).values()) == 6  # what counting people per row class saw
    assert measured_k(records, QI) == 1

    tolerant = k_anonymize(records, QI, 5, HIERARCHIES, max_suppression=0.2)
    assert tolerant.generalised["age_bracket"] == "as collected" and tolerant.suppressed_count == 20
    assert all(all(r[q] == "*" for q in QI) for r in tolerant.records if r["subject_id"] == "bridge")
    assert tolerant.k_achieved == 5 and measured_k(tolerant.records, QI) == 5

    strict = k_anonymize(records, QI, 5, HIERARCHIES)  # 20 rows are over 5% of 120: widen instead
    assert strict.generalised["age_bracket"] == "20-year" and strict.suppressed_count == 0
    assert strict.k_achieved == 11


def test_a_partly_suppressed_person_still_shows_their_suppressed_row() -> None:
    # Five people seen only in one class; p0 also has a row with every quasi-identifier suppressed. Under p0's
    # pseudonym an attacker sees both rows, so p0 is alone; only a person with every row suppressed drops out.
    records = _photos({f"p{i}": ("30-39", "F", "서울") for i in range(5)}, photos=2)
    records.append({"item": "p0-x", "subject_id": "p0", "age_bracket": "*", "gender": "*", "region": "*"})
    assert measured_k(records, QI) == 1
    records.append({"item": "q-x", "subject_id": "q", "age_bracket": "*", "gender": "*", "region": "*"})
    assert measured_k(records, QI) == 1
    assert measured_k([r for r in records if r["subject_id"] != "p0"], QI) == 4


def test_subject_key_must_be_present_and_not_a_quasi_identifier() -> None:
    with pytest.raises(KAnonymityError, match=r"records\[0\]: missing subject_id"):
        k_anonymize(_records(10), QI, 5)
    with pytest.raises(KAnonymityError) as caught:
        k_anonymize(_photos({"p": ("20-29", "F", "서울")}), QI, 5, subject_key="gender")
    assert caught.value.field == "subject_key"
    with pytest.raises(KAnonymityError, match="missing subject_id"):
        measured_k([{"age_bracket": "20-29", "gender": "F", "region": "서울"}], QI)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "subject_id": st.sampled_from([f"p{n}" for n in range(12)]),
                "age_bracket": st.sampled_from(["5", "15", "25", "35", "45", "55", "65", "75", "90"]),
                "gender": st.sampled_from("FMX"),
                "region": st.sampled_from(["서울", "부산", "제주", "강원", "Seoul", "Mars"]),
            }
        ),
        max_size=120,
    ),
    st.integers(min_value=1, max_value=8),
)
def test_any_table_comes_out_k_anonymous_in_people(records: list[dict[str, str]], k: int) -> None:
    result = k_anonymize(records, QI, k, HIERARCHIES)
    assert measured_k(result.records, QI) == result.k_achieved
    assert result.k_achieved == 0 or result.k_achieved >= k
    assert all(people >= k for people in _people_per_class(result.records).values())
    assert len(result.records) == len(records)
