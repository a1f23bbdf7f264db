"""Canonical encodings that signatures and hashes depend on: JSON, SHA-256 hex, base64url and UTC timestamps.

Canonical JSON here is RFC 8785 (JSON Canonicalization Scheme): object keys sorted by their UTF-16 code
units, no whitespace, UTF-8 output with no escaping beyond what JSON requires, numbers written as ECMAScript
writes them. Values JCS cannot represent exactly are refused rather than silently changed: NaN and Infinity,
non-string keys, integers a double cannot hold exactly (beyond 2**53 a JavaScript or Go verifier would round
them), strings with lone surrogates, and any type but dict, list/tuple, str, int, float, bool and None.
So a receipt canonicalised here is byte-identical to one canonicalised by any conforming JCS library.

`loads_strict` is the reading side: it refuses what `json.loads` tolerates but a signature must not
(invalid UTF-8, a byte-order mark, duplicate keys, NaN/Infinity tokens).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from consent.errors import CanonicalizationError, MalformedJSONError

MAX_SAFE_INTEGER = 2**53 - 1

__all__ = [
    "MAX_SAFE_INTEGER",
    "b64url_decode",
    "b64url_encode",
    "canonical_json",
    "canonical_sha256",
    "format_timestamp",
    "loads_strict",
    "parse_timestamp",
    "sha256_hex",
]


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical JSON bytes of `value`.

    Raises CanonicalizationError (a ValueError) naming the path of the first value that cannot be represented.
    """
    return _encode(value, "$").encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of `data` (64 characters)."""
    return hashlib.sha256(data).hexdigest()


def canonical_sha256(value: Any) -> str:
    """Lower-case hex SHA-256 of the canonical JSON of `value`. Raises CanonicalizationError."""
    return sha256_hex(canonical_json(value))


def loads_strict(data: bytes | str) -> Any:
    """Parse JSON strictly: UTF-8 without BOM, no duplicate keys, no NaN/Infinity.

    Integers beyond +/-(2**53 - 1) are read as doubles, as a JCS (JavaScript) reader reads them, so that
    parsing and re-canonicalising gives back the same bytes.

    Raises MalformedJSONError with the reason.
    """
    if isinstance(data, bytes):
        if data.startswith(b"\xef\xbb\xbf"):
            raise MalformedJSONError("starts with a UTF-8 byte-order mark")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedJSONError(f"not valid UTF-8 at byte {exc.start}") from None
    try:
        return json.loads(
            data,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_float=_finite_float,
            parse_int=_int_or_double,
        )
    except json.JSONDecodeError as exc:
        raise MalformedJSONError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise MalformedJSONError("nested too deeply") from None


def b64url_encode(data: bytes) -> str:
    """Base64url (RFC 4648 section 5) without padding, as JOSE uses it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url, accepting only the one canonical spelling of the bytes.

    Base64 lets the unused low bits of the last character vary, so several strings decode to the same bytes;
    a signed document must not have such free bits, so the text must re-encode to itself. Raises ValueError.
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError(f"not unpadded base64url: {exc}") from None
    if b64url_encode(data) != text:
        raise ValueError("not the canonical base64url spelling (unused bits are set)")
    return data


def format_timestamp(moment: dt.datetime) -> str:
    """RFC 3339 UTC with whole seconds, e.g. ``2025-03-01T09:30:00Z``. Sub-second parts are dropped.

    Raises ValueError for a naive datetime (its zone would be a guess).
    """
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are refused: pass an aware datetime")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def parse_timestamp(text: str) -> dt.datetime:
    """Parse exactly the form `format_timestamp` writes into an aware UTC datetime. Raises ValueError."""
    if not isinstance(text, str) or not _TIMESTAMP.fullmatch(text):
        raise ValueError(f"not a UTC timestamp of the form YYYY-MM-DDTHH:MM:SSZ: {text!r}")
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def _encode(value: Any, path: str) -> str:
    # bool before int: True is an int in Python but `true` in JSON.
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        return _encode_int(value, path)
    if isinstance(value, float):
        return _encode_float(value, path)
    if isinstance(value, str):
        return _encode_str(value, path)
    if isinstance(value, Mapping):
        return _encode_object(value, path)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item, f"{path}[{i}]") for i, item in enumerate(value)) + "]"
    raise CanonicalizationError(f"type {type(value).__name__} has no canonical JSON form", path)


def _encode_object(value: Mapping[Any, Any], path: str) -> str:
    members = []
    for key, item in value.items():
        if not isinstance(key, str):
            raise CanonicalizationError(f"object key {key!r} is not a string", path)
        # RFC 8785 section 3.2.3: sort by UTF-16 code units, which differs from code-point order above U+FFFF.
        members.append((key.encode("utf-16-be", "surrogatepass"), _encode_str(key, path), key, item))
    members.sort(key=lambda member: member[0])
    return "{" + ",".join(f"{name}:{_encode(item, f'{path}.{key}')}" for _, name, key, item in members) + "}"


def _encode_str(value: str, path: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalizationError("string holds a lone surrogate", path) from None
    # The encoder json.dumps uses with ensure_ascii=False; it escapes exactly what RFC 8785 escapes:
    # '"', '\\', and control characters (as \b \t \n \f \r or \u00xx).
    return encode_basestring(value)


def _encode_int(value: int, path: str) -> str:
    if abs(value) <= MAX_SAFE_INTEGER:
        return str(value)
    # Beyond 2**53 only integers that a double holds exactly are kept; JCS writes them as doubles.
    try:
        as_double = float(value)
    except OverflowError:
        as_double = math.inf
    if as_double != value:
        raise CanonicalizationError(f"integer {value} is not exactly representable as a double", path)
    return _encode_float(as_double, path)


def _encode_float(value: float, path: str) -> str:
    """ECMAScript Number::toString (RFC 8785 section 3.2.2.3), from Python's shortest round-trip digits."""
    if not math.isfinite(value):
        raise CanonicalizationError(f"{value} is not allowed in JSON", path)
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k, n = len(digits), int(exponent) + len(digits)  # value = 0.digits * 10**n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if n - 1 > 0 else '-'}{abs(n - 1)}"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedJSONError(f"duplicate object key {key!r}")
        result[key] = value
    return result


def _no_constant(token: str) -> Any:
    raise MalformedJSONError(f"{token} is not JSON")


def _int_or_double(token: str) -> int | float:
    try:
        value = int(token)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        raise MalformedJSONError(f"number of {len(token)} digits is too long") from None
    return value if abs(value) <= MAX_SAFE_INTEGER else _finite_float(token)


def _finite_float(token: str) -> float:
    value = float(token)
    if value in (float("inf"), float("-inf")):
        raise MalformedJSONError(f"number {token} overflows a double")
    return value
