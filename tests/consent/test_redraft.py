"""Carrying an operator's edits over to the next draft when the settings a notice states change (pure)."""

from __future__ import annotations

import dataclasses

from _consent_support import make_notice, replace_matter, text

from consent.notice import Contact, Matter, MatterKind
from consent.redraft import UpdateKind, adjust_wording, carry_over


def _defaults(days_then: int, days_now: int) -> tuple:
    def default(days: int):  # type: ignore[no-untyped-def]
        notice = make_notice(retention=text(f"캠페인 종료 후 {days}일까지 보유합니다.",
                                            f"Kept until {days} days after the campaign closes."))
        return replace_matter(notice, "collection", full_text=text(f"보유 기간: {days}일", f"Kept {days} days."))
    return default(days_then), default(days_now)


def test_only_the_texts_stating_a_changed_setting_change_and_every_edit_is_kept() -> None:
    then, now = _defaults(730, 365)
    followup = Matter(id="followup", kind=MatterKind.CUSTOM, summary=text("추후 연락", "Follow-up"))
    edited = dataclasses.replace(
        then,
        controller=dataclasses.replace(then.controller, address=text("서울", "Seoul"), phone="02-123-4567"),
        purpose=text("운영자가 고친 목적", "Purpose as edited"),
        retention=text("저희는 종료 후 730일까지 보관합니다.", then.retention.en),
        matters=(*then.matters, followup),
    )
    edited = replace_matter(edited, "collection", full_text=text("730일 동안 보관하고 730일 뒤 파기", "Kept 730 days."))
    merged, updates = carry_over(edited, then, now)
    assert merged.controller.address.ko == "서울" and merged.controller.phone == "02-123-4567"
    assert merged.purpose == edited.purpose and merged.matter("followup") == followup
    assert merged.retention.ko == "저희는 종료 후 365일까지 보관합니다."  # the operator's wording, new figure
    assert merged.retention.en == now.retention.en  # not edited: the new default
    assert merged.matter("collection").full_text.ko == "730일 동안 보관하고 730일 뒤 파기"  # ambiguous: kept
    assert merged.matter("collection").full_text.en == "Kept 365 days."
    kinds = {(u.path, u.language): u.kind for u in updates}
    assert kinds == {
        ("retention", "ko"): UpdateKind.ADJUSTED,
        ("retention", "en"): UpdateKind.REPLACED,
        ("matters.collection.full_text", "ko"): UpdateKind.CHECK,
        ("matters.collection.full_text", "en"): UpdateKind.REPLACED,
    }
    check = next(u for u in updates if u.kind is UpdateKind.CHECK)
    assert check.suggestion == "보유 기간: 365일"


def test_nothing_changes_when_the_defaults_agree() -> None:
    then, _now = _defaults(730, 730)
    edited = dataclasses.replace(then, controller=Contact(name=text("회사", "Company"), email="a@b.example"))
    merged, updates = carry_over(edited, then, then)
    assert merged == edited and updates == ()


def test_adjusting_wording_needs_each_changed_passage_once() -> None:
    old, new = "사진 총 8장, 1,000원", "사진 총 30장, 2,000원"
    assert adjust_wording("모두 총 8장이고 대가는 1,000원입니다", old, new) == "모두 총 30장이고 대가는 2,000원입니다"
    assert adjust_wording("대가는 1,000원입니다", old, new) is None  # the photo count is not stated: cannot tell
    assert adjust_wording("Kept until 730 days", "until 730 days", "until 365 days") == "Kept until 365 days"
