"""Canonical JSON (RFC 8785), strict parsing, base64url and timestamps: what every signature rests on."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.canonical import (
    MAX_SAFE_INTEGER,
    b64url_decode,
    b64url_encode,
    canonical_json,
    canonical_sha256,
    format_timestamp,
    loads_strict,
    parse_timestamp,
    sha256_hex,
)
from consent.errors import CanonicalizationError, ConsentError, MalformedJSONError

safe_ints = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | safe_ints | finite_floats | st.text()
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=25,
)
# Without floats and with keys below U+D800, RFC 8785 agrees with Python's sorted, compact json.dumps.
bmp_keys = st.text(alphabet=st.characters(max_codepoint=0xD7FF), max_size=8)
plain_values = st.recursive(
    st.none() | st.booleans() | safe_ints | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(bmp_keys, children, max_size=5),
    max_leaves=25,
)


def test_rfc8785_sample_object() -> None:
    value = {
        "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
        "literals": [None, True, False],
    }
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(value) == expected.encode("utf-8")


def test_keys_sort_by_utf16_code_units_as_rfc8785_requires() -> None:
    keys = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    order = list(json.loads(canonical_json({k: 0 for k in keys})))
    # U+1F600 (surrogates D83D DE00) sorts before U+FB33, unlike code-point order.
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (100.0, "100"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (5e-324, "5e-324"),
        (-1.5, "-1.5"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (9007199254740991, "9007199254740991"),
        (2**53, "9007199254740992"),
        (10**21, "1e+21"),
    ],
)
def test_numbers_are_written_as_ecmascript_writes_them(number: float, text: str) -> None:
    assert canonical_json(number) == text.encode()


def test_output_is_utf8_without_ascii_escapes() -> None:
    assert canonical_json({"이름": "홍길동 😀"}) == '{"이름":"홍길동 😀"}'.encode()


@given(json_values)
def test_round_trips_through_the_strict_parser(value: Any) -> None:
    assert loads_strict(canonical_json(value)) == value


@given(json_values)
def test_is_idempotent(value: Any) -> None:
    once = canonical_json(value)
    assert canonical_json(loads_strict(once)) == once


@given(plain_values)
def test_matches_compact_sorted_json_dumps_for_plain_values(value: Any) -> None:
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == expected.encode("utf-8")


@given(st.dictionaries(st.text(max_size=6), safe_ints, min_size=2, max_size=8), st.randoms())
def test_does_not_depend_on_insertion_order(value: dict[str, int], rnd: Any) -> None:
    items = list(value.items())
    rnd.shuffle(items)
    assert canonical_json(dict(items)) == canonical_json(value)


@given(finite_floats)
def test_floats_round_trip_exactly(number: float) -> None:
    assert float(canonical_json(number)) == number


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": math.nan}, "$.a"),
        ({"a": [1, math.inf]}, "$.a[1]"),
        ([-math.inf], "$[0]"),
        ({1: "x"}, "$"),
        ({"a": {None: 1}}, "$.a"),
        ({"n": MAX_SAFE_INTEGER + 2}, "$.n"),
        ({"n": -(MAX_SAFE_INTEGER + 2)}, "$.n"),
        ({"n": 10**400}, "$.n"),
        ({"s": {1, 2}}, "$.s"),
        ({"b": b"bytes"}, "$.b"),
        ({"t": dt.datetime(2025, 1, 1, tzinfo=dt.UTC)}, "$.t"),
        ({"s": "lone \ud800 surrogate"}, "$.s"),
    ],
)
def test_refuses_what_has_no_canonical_form(value: Any, path: str) -> None:
    with pytest.raises(CanonicalizationError) as caught:
        canonical_json(value)
    assert caught.value.path == path
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, ConsentError)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"a":1,"a":2}', "duplicate object key"),
        (b"[NaN]", "NaN is not JSON"),
        (b"[-Infinity]", "-Infinity is not JSON"),
        (b"[1e400]", "overflows"),
        (b"[1" + b"0" * 5000 + b"]", "too long"),
        (b'{"a":"\xff"}', "not valid UTF-8"),
        (b"\xef\xbb\xbf{}", "byte-order mark"),
        (b'{"a":1', "Expecting"),
        (b"", "Expecting value"),
    ],
)
def test_strict_parser_refuses_ambiguous_input(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedJSONError, match=reason):
        loads_strict(data)


def test_strict_parser_accepts_text_and_bytes() -> None:
    assert loads_strict('{"a":[1,2.5,"한"]}') == loads_strict('{"a":[1,2.5,"한"]}'.encode()) == {"a": [1, 2.5, "한"]}


def test_sha256_helpers() -> None:
    assert sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert canonical_sha256({"b": 1, "a": 2}) == sha256_hex(b'{"a":2,"b":1}')


@given(st.binary(max_size=80))
def test_base64url_round_trips_without_padding(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64url_decode(text) == data


@pytest.mark.parametrize("text", ["AB", "AAB", "AA==", "A", "AA+A", "AA/A", "AA A", "é"])
def test_base64url_refuses_non_canonical_spellings(text: str) -> None:
    # "AB" and "AAB" decode to the same bytes as "AA" and "AAA": their unused low bits are set.
    with pytest.raises(ValueError):
        b64url_decode(text)


def test_timestamps_are_whole_seconds_in_utc() -> None:
    seoul = dt.timezone(dt.timedelta(hours=9))
    moment = dt.datetime(2025, 3, 1, 18, 30, 15, 999999, tzinfo=seoul)
    assert format_timestamp(moment) == "2025-03-01T09:30:15Z"
    assert parse_timestamp("2025-03-01T09:30:15Z") == dt.datetime(2025, 3, 1, 9, 30, 15, tzinfo=dt.UTC)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_timestamp(dt.datetime(2025, 3, 1))


@pytest.mark.parametrize(
    "text",
    ["2025-03-01T09:30:15+00:00", "2025-03-01 09:30:15Z", "2025-03-01T09:30:15.5Z", "2025-02-30T00:00:00Z"],
)
def test_only_the_written_timestamp_form_parses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)
