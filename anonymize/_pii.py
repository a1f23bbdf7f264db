"""Personal data in free text (operator comments, contributor notes, file names): find it and replace it.

Recognised: Korean resident registration numbers (YYMMDD-NNNNNNN, also half-masked), phone numbers (Korean
mobile, landline, +82 forms, 15xx service numbers, North American and other +country numbers), e-mail addresses
(also "name [at] domain" forms), payment card numbers (13-19 digits passing the Luhn check), bank account
numbers (hyphenated Korean layouts, or any long digit run near a bank word), and the contributor's own name
(Korean and Latin, in any order, with or without spaces) and e-mail (also its local part as a handle).

Policy: over-redaction is cheap, a leak is not, so ambiguous digit runs near bank words are removed too. Digit
patterns do not start or end inside an ASCII word (so hashes and ids are left alone) but may touch Hangul
("전화010-1234-5678로"). Full-width digits and Unicode dashes are read as their ASCII forms.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

_FOLD = str.maketrans(
    {
        **{chr(0xFF10 + d): str(d) for d in range(10)},
        "－": "-",
        "‐": "-",
        "‑": "-",
        "–": "-",
        "—": "-",
        "−": "-",
        "＋": "+",
        "＠": "@",
        "．": ".",
        "（": "(",
        "）": ")",
    }
)
_L = r"(?<![0-9A-Za-z])"
_R = r"(?![0-9A-Za-z])"
_SEP = r"[ .\-]?"

_RRN = re.compile(_L + r"(\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\s?-?\s?[1-8](?:\d{6}|[*xX]{6})" + _R)
_PHONES = (
    re.compile(_L + r"01[016789]" + _SEP + r"\d{3,4}" + _SEP + r"\d{4}" + _R),
    re.compile(
        r"\+\s?82[ .\-]?(?:\(0\)|0)?[ .\-]?(?:1[016789]|2|[3-6][1-5]|70)" + _SEP + r"\d{3,4}" + _SEP + r"\d{4}" + _R
    ),
    re.compile(
        r"(?:\(0(?:2|[3-6][1-5]|70)\)\s?|" + _L + r"0(?:2|[3-6][1-5]|70)" + _SEP + r")\d{3,4}" + _SEP + r"\d{4}" + _R
    ),
    re.compile(_L + r"1[5-9]\d{2}-\d{4}" + _R),
    re.compile(r"(?:\+1[ .\-]?)?(?:\(\d{3}\)\s?|" + _L + r"\d{3}[ .\-])\d{3}[ .\-]\d{4}" + _R),
    re.compile(r"\+(?!82)\d{1,3}(?:[ .\-]?\(?\d{1,4}\)?){2,5}" + _R),
)
_EMAILS = (
    re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"),
    re.compile(
        r"[A-Za-z0-9._%+\-]+\s?(?:\[at\]|\(at\)|\{at\}| at |골뱅이)\s?[A-Za-z0-9\-]+"
        r"(?:\s?(?:\.|\[dot\]|\(dot\)| dot )\s?[A-Za-z0-9\-]+)+",
        re.IGNORECASE,
    ),
)
_CARD = re.compile(_L + r"\d(?:[ \-]?\d){12,18}" + _R)
_ACCOUNT_LAYOUT = re.compile(_L + r"\d{2,6}(?:-\d{2,7}){2,3}" + _R)
_BANK_WORDS = (
    "계좌",
    "입금",
    "송금",
    "이체",
    "은행",
    "뱅크",
    "국민",
    "신한",
    "우리",
    "하나",
    "농협",
    "기업",
    "카카오",
    "토스",
    "새마을",
    "우체국",
    "수협",
    "신협",
    "씨티",
    "제일",
    "account",
    "acct",
    "a/c",
    "bank",
    "iban",
    "routing",
    "sort code",
)
_ACCOUNT_CONTEXT = re.compile(
    r"(?:" + "|".join(re.escape(w) for w in _BANK_WORDS) + r")[^\n\d]{0,20}?" + _L + r"(\d[\d \-]{7,22}\d)" + _R,
    re.IGNORECASE,
)
_TWO_SYLLABLE_SURNAMES = ("남궁", "제갈", "선우", "황보", "독고", "사공", "서문", "동방", "을지", "어금")
_HANGUL = re.compile(r"[가-힣]")
_PRIORITY = ("email", "rrn", "phone", "card", "account", "name")

REPLACEMENTS = {
    "email": "[EMAIL]",
    "rrn": "[RRN]",
    "phone": "[PHONE]",
    "card": "[CARD]",
    "account": "[ACCOUNT]",
    "name": "[NAME]",
}


@dataclass(frozen=True)
class PiiFinding:
    """One piece of personal data: its `kind` (rrn, phone, email, card, account, name) and span in the text.
    The matched text itself is not stored (slice the original if you must, and never log it)."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class TextScrub:
    """The text with every finding replaced by a placeholder such as [PHONE], and the findings (spans refer to
    the original text)."""

    text: str
    findings: tuple[PiiFinding, ...]


def find_pii(text: str, names: Sequence[str] = (), emails: Sequence[str] = ()) -> list[PiiFinding]:
    """Every non-overlapping finding in `text`, in reading order; `names` and `emails` are the contributor's."""
    folded = text.translate(_FOLD)
    candidates = sorted(_candidates(folded, names, emails), key=_precedence)
    accepted: list[PiiFinding] = []
    for finding in candidates:
        if all(finding.end <= other.start or finding.start >= other.end for other in accepted):
            accepted.append(finding)
    return sorted(accepted, key=lambda f: f.start)


def _precedence(finding: PiiFinding) -> tuple[int, int, int]:
    return _PRIORITY.index(finding.kind), finding.start, finding.start - finding.end


def scrub_text(text: str, names: Sequence[str] = (), emails: Sequence[str] = ()) -> TextScrub:
    """`text` with every finding of `find_pii` replaced by its placeholder."""
    findings = find_pii(text, names, emails)
    pieces: list[str] = []
    cursor = 0
    for finding in findings:
        pieces.append(text[cursor : finding.start])
        pieces.append(REPLACEMENTS[finding.kind])
        cursor = finding.end
    pieces.append(text[cursor:])
    return TextScrub("".join(pieces), tuple(findings))


def _candidates(text: str, names: Sequence[str], emails: Sequence[str]) -> Iterator[PiiFinding]:
    yield from _matches("email", _EMAILS, text)
    yield from _matches("rrn", (_RRN,), text, valid=_plausible_rrn)
    yield from _matches("phone", _PHONES, text, valid=_plausible_phone)
    yield from _matches("card", (_CARD,), text, valid=_luhn)
    yield from _matches("account", (_ACCOUNT_LAYOUT,), text, valid=_plausible_account)
    for match in _ACCOUNT_CONTEXT.finditer(text):
        if 10 <= len(_digits(match.group(1))) <= 16:
            yield PiiFinding("account", match.start(1), match.end(1))
    yield from _matches("name", _name_patterns(names), text)
    yield from _matches("email", _email_patterns(emails), text)


def _matches(
    kind: str, patterns: Iterable[re.Pattern[str]], text: str, valid: Callable[[str], bool] | None = None
) -> Iterator[PiiFinding]:
    for pattern in patterns:
        for match in pattern.finditer(text):
            if valid is None or valid(match.group()):
                yield PiiFinding(kind, match.start(), match.end())


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _plausible_rrn(value: str) -> bool:
    return len(_digits(value)) in (7, 13)


def _plausible_phone(value: str) -> bool:
    return 8 <= len(_digits(value)) <= 15


def _plausible_account(value: str) -> bool:
    return 10 <= len(_digits(value)) <= 14


def _luhn(value: str) -> bool:
    digits = [int(d) for d in _digits(value)]
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _name_patterns(names: Sequence[str]) -> Iterator[re.Pattern[str]]:
    for name in names:
        tokens = [t for t in re.split(r"[\s\-·.]+", name.strip()) if t]
        if not tokens:
            continue
        if _HANGUL.search(name):
            yield from _korean_name_patterns("".join(tokens))
        else:
            yield from _latin_name_patterns(tokens)


def _korean_name_patterns(name: str) -> Iterator[re.Pattern[str]]:
    spaced = r"\s?".join(re.escape(ch) for ch in name)
    yield re.compile(spaced)
    surname_length = 2 if name[:2] in _TWO_SYLLABLE_SURNAMES and len(name) >= 4 else 1
    given = name[surname_length:]
    if len(given) >= 2:
        # A given name alone ("길동씨", "길동아") names the contributor to anyone who knows them.
        yield re.compile(r"(?<![가-힣])" + re.escape(given))


def _latin_name_patterns(tokens: list[str]) -> Iterator[re.Pattern[str]]:
    # Either end may be the surname ("Hong Gil-dong", "Gildong Hong"); the given name may be split or joined.
    def words(parts: Sequence[str]) -> str:
        return r"[\s\-.,]*".join(re.escape(part) for part in parts)

    variants = {words(tokens), words(tokens[::-1])}
    for surname, given in ((tokens[:1], tokens[1:]), (tokens[-1:], tokens[:-1])):
        if given:
            variants.update({words(surname + given), words(given + surname), words(given), words(["".join(given)])})
            variants.add(words(["".join(given)]) + r"[\s\-.,]*" + words(surname))
            variants.add(words(surname) + r"[\s\-.,]*" + words(["".join(given)]))
    variants.update(re.escape(token) for token in tokens if len(token) >= 3)
    for variant in sorted(variants, key=len, reverse=True):
        yield re.compile(r"(?<![A-Za-z])" + variant + r"(?![A-Za-z])", re.IGNORECASE)


def _email_patterns(emails: Sequence[str]) -> Iterator[re.Pattern[str]]:
    for email in emails:
        local = email.split("@", 1)[0]
        yield re.compile(re.escape(email), re.I)
        if len(local) >= 3:
            yield re.compile(r"(?<![A-Za-z0-9._\-])" + re.escape(local) + r"(?![A-Za-z0-9_\-])", re.I)
