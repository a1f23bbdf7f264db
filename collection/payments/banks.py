"""The banks a contributor can be paid at (Korean bank codes of the KFTC interbank network, 3 digits) and the
shape rule of an account number: digits with optional hyphens, 10 to 16 digits once the hyphens are gone, stored
without them. The names are data, not interface text: Korean for the bank file and the Korean pages, English
for the English pages."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from collection.errors import InvalidPayoutAccount


@dataclass(frozen=True)
class Bank:
    code: str
    name_ko: str
    name_en: str

    def name(self, locale: str) -> str:
        return self.name_en if locale.startswith("en") else self.name_ko


BANKS: tuple[Bank, ...] = (
    Bank("002", "KDB산업은행", "KDB Korea Development Bank"),
    Bank("003", "IBK기업은행", "IBK Industrial Bank of Korea"),
    Bank("004", "KB국민은행", "KB Kookmin Bank"),
    Bank("007", "수협은행", "Suhyup Bank"),
    Bank("011", "NH농협은행", "NH NongHyup Bank"),
    Bank("020", "우리은행", "Woori Bank"),
    Bank("023", "SC제일은행", "SC First Bank"),
    Bank("027", "한국씨티은행", "Citibank Korea"),
    Bank("031", "iM뱅크(대구)", "iM Bank (Daegu)"),
    Bank("032", "부산은행", "Busan Bank"),
    Bank("034", "광주은행", "Kwangju Bank"),
    Bank("035", "제주은행", "Jeju Bank"),
    Bank("037", "전북은행", "Jeonbuk Bank"),
    Bank("039", "경남은행", "Kyongnam Bank"),
    Bank("045", "새마을금고", "MG Community Credit Cooperatives"),
    Bank("048", "신협", "Credit Union (CU)"),
    Bank("050", "저축은행", "Savings Bank"),
    Bank("071", "우체국", "Korea Post"),
    Bank("081", "하나은행", "Hana Bank"),
    Bank("088", "신한은행", "Shinhan Bank"),
    Bank("089", "케이뱅크", "K Bank"),
    Bank("090", "카카오뱅크", "KakaoBank"),
    Bank("092", "토스뱅크", "Toss Bank"),
)
BY_CODE = {b.code: b for b in BANKS}

ACCOUNT_NUMBER_SHAPE = re.compile(r"^[0-9]+(-[0-9]+)*$")
MIN_DIGITS, MAX_DIGITS = 10, 16


def bank(code: str) -> Bank:
    """The bank with this code. Raises InvalidPayoutAccount("bank") for a code not on the list."""
    found = BY_CODE.get(code)
    if found is None:
        raise InvalidPayoutAccount("bank")
    return found


def _plain(typed: str) -> str:
    """Full-width digits and dashes (a Korean keyboard in full-width mode: １２３－４５) as their plain forms."""
    return unicodedata.normalize("NFKC", typed).strip().replace("\u2010", "-").replace("\u2212", "-")


def account_number_problem(typed: str) -> str | None:
    """None when `typed` is a well-formed account number, else "characters" or "length"."""
    text = _plain(typed)
    if not ACCOUNT_NUMBER_SHAPE.match(text):
        return "characters"
    if not MIN_DIGITS <= len(text.replace("-", "")) <= MAX_DIGITS:
        return "length"
    return None


def normalize_account_number(typed: str) -> str:
    """The digits only. Raises InvalidPayoutAccount("account_number") for a malformed number."""
    if account_number_problem(typed) is not None:
        raise InvalidPayoutAccount("account_number")
    return _plain(typed).replace("-", "")


def masked(number: str) -> str:
    """Every digit but the last four hidden (the saved account as the contributor sees it)."""
    return "•" * max(0, len(number) - 4) + number[-4:]
