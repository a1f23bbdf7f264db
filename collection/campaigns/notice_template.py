"""The default consent notice of a campaign: a complete, publishable bilingual (ko/en) first draft.

`default_notice` writes, from the campaign's own facts (title, age brackets, photo counts, voice prompts,
payment, retention), everything PIPA Art. 15(2), 17(2), 22 and 23 and GDPR Art. 13 ask to be told before
consent, and one separate consent matter per purpose:

* ``collection``  collection and use of photos, dates, birth date, account and payment details (required)
* ``sensitive``   face (and voice) features derived to identify a person: sensitive information (required)
* ``release``     provision of the pseudonymised dataset to research licensees: a third party (optional)
* ``voice``       voice recordings, only when the campaign has voice prompts (optional)

The wording is a starting point the operator reviews on the consent document page before publishing; it is
deliberately honest about what pseudonymisation cannot do for a face or a voice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from collection.campaigns.models import Campaign
from consent.notice import Contact, LocalizedText, Matter, MatterKind, Notice, ThirdPartyProvision

# How long research licensees may keep a release, at most (the licence agreement's term).
LICENSEE_RETENTION_YEARS = 3
# Korean practice for "without delay" after a withdrawal (see STANDARDS.md, Erasure and retention).
ERASURE_DAYS = 5


def _t(ko: str, en: str) -> LocalizedText:
    return LocalizedText(ko=ko, en=en)


def default_notice(
    campaign: Campaign,
    controller_name: str,
    controller_contact: str,
    jurisdictions: Sequence[str] = ("KR",),
) -> Notice:
    """A publishable notice (version 1) for `campaign`, with `controller_name` reachable at
    `controller_contact` (an email address, or else a phone number). Raises NoticeFormatError for a campaign
    slug or jurisdiction the notice model refuses."""
    voice = campaign.has_voice
    return Notice(
        campaign=campaign.slug,
        version=1,
        title=_t(
            f"「{campaign.title_ko}」 개인정보 수집·이용 및 제공 동의서",
            f"Consent to the collection, use and provision of personal information: {campaign.title_en}",
        ),
        controller=_contact(_t(controller_name, controller_name), controller_contact),
        privacy_officer=_contact(
            _t(f"개인정보 보호책임자 ({controller_name})", f"Privacy officer, {controller_name}"), controller_contact
        ),
        purpose=_purpose(campaign),
        items_collected=_items(campaign),
        retention=_retention(campaign),
        right_to_refuse=_right_to_refuse(voice),
        refusal_consequences=_refusal_consequences(campaign),
        legal_basis=_LEGAL_BASIS,
        rights=_RIGHTS,
        complaint=_COMPLAINT,
        transfers=_TRANSFERS,
        matters=_matters(campaign, controller_name),
        jurisdictions=tuple(jurisdictions),
        collects_voice=voice,
    )


def _contact(name: LocalizedText, contact: str) -> Contact:
    contact = contact.strip()
    if "@" in contact:
        return Contact(name=name, email=contact)
    return Contact(name=name, phone=contact)


def _matters(campaign: Campaign, controller_name: str) -> tuple[Matter, ...]:
    matters = [_collection_matter(campaign), _sensitive_matter(campaign), _release_matter(campaign, controller_name)]
    if campaign.has_voice:
        matters.append(_voice_matter(campaign))
    return tuple(matters)


# --- campaign facts in words -------------------------------------------------------------------------------


def _brackets(campaign: Campaign) -> LocalizedText:
    ko = ", ".join(f"{b['min_age']}~{b['max_age']}세 {b['photos']}장" for b in campaign.brackets)
    en = ", ".join(f"{b['photos']} aged {b['min_age']}-{b['max_age']}" for b in campaign.brackets)
    return _t(ko, en)


def _photos(campaign: Campaign) -> LocalizedText:
    brackets = _brackets(campaign)
    return _t(
        f"본인의 얼굴 사진 총 {campaign.total_photos}장(연령대별: {brackets.ko})",
        f"{campaign.total_photos} photos of your own face (by age: {brackets.en})",
    )


def _prompts(campaign: Campaign) -> int:
    return len(campaign.voice_prompts)


def _payment(campaign: Campaign) -> LocalizedText:
    return _t(f"{campaign.payment_krw:,}원", f"KRW {campaign.payment_krw:,}")


# --- the general sections ----------------------------------------------------------------------------------


def _purpose(campaign: Campaign) -> LocalizedText:
    voice_ko, voice_en = (" 및 음성 녹음", " and recordings of your voice") if campaign.has_voice else ("", "")
    return _t(
        f"「{campaign.title_ko}」 캠페인을 위해 참여자 본인의 얼굴 사진{voice_ko}을 수집하고, 품질을 검사·검수하여 "
        "인공지능(AI) 연구·학습용 데이터셋을 구축합니다. 또한 사진이 모두 같은 사람의 것인지 확인하고, "
        "참여 자격(나이)을 확인하며, 참여 대가를 지급하고, 동의 기록을 보관하는 데 이용합니다.",
        f"For the campaign “{campaign.title_en}” we collect photos of your own face{voice_en}, check and "
        "review their quality, and build a dataset for artificial intelligence (AI) research and training. We also "
        "use your information to confirm that all photos show the same person, to check that you are eligible "
        "(your age), to pay you for taking part, and to keep a record of your consent.",
    )


def _items(campaign: Campaign) -> LocalizedText:
    photos = _photos(campaign)
    voice_ko = f" 선택: 음성 녹음(제시 문장 {_prompts(campaign)}개 낭독)." if campaign.has_voice else ""
    voice_en = (
        f" Optional: voice recordings (reading {_prompts(campaign)} sentence(s) aloud)." if campaign.has_voice else ""
    )
    return _t(
        f"필수: {photos.ko}, 각 사진의 촬영 시점 또는 촬영 당시 나이, 생년월일, 계정 정보(이메일, 이름), "
        "지급 정보(은행명, 계좌번호, 예금주). 자동 생성: 얼굴 특징정보(본인 확인·품질 검사용), "
        f"접속 IP 주소의 암호화된 해시값.{voice_ko}",
        f"Required: {photos.en}, when each photo was taken or your age at the time, your birth date, account "
        "details (email, name), payment details (bank, account number, account holder). Generated automatically: "
        f"face features (to confirm identity and check quality), a keyed hash of your IP address.{voice_en}",
    )


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _retention(campaign: Campaign) -> LocalizedText:
    days = campaign.retention_days
    return _t(
        f"캠페인 종료 후 {days}일까지 보유·이용한 뒤 지체 없이 복구할 수 없도록 파기합니다. 동의를 철회하면 해당 "
        f"처리를 즉시 중단하고, 보유에 필요한 동의를 철회한 경우 {ERASURE_DAYS}일 이내에 파기합니다. 다만 이름이 "
        "들어 있지 않은 서명된 동의 기록(동의 영수증)은 동의와 철회를 증명하기 위해 보관하며, 관계 법령에 따라 "
        "보존해야 하는 지급 기록은 그 법령이 정한 기간 동안 보관합니다.",
        f"Kept and used until {_days(days)} after the campaign closes, then destroyed without delay so that it "
        "cannot be restored. If you withdraw a consent, that processing stops at once; if you withdraw a consent "
        f"we need to keep your data, it is destroyed within {ERASURE_DAYS} days. Signed consent records (consent "
        "receipts, which hold no name) are kept as proof of what you agreed to and withdrew, and payment records "
        "that the law requires us to keep are kept for the period the law sets.",
    )


def _right_to_refuse(voice: bool) -> LocalizedText:
    voice_ko, voice_en = (", 음성 녹음", ", voice recordings") if voice else ("", "")
    return _t(
        f"귀하는 개인정보 수집·이용, 민감정보 처리, 제3자 제공{voice_ko}에 대한 동의를 각각 거부할 권리가 "
        "있으며, 동의한 후에도 언제든지 일부 또는 전부를 철회할 수 있습니다. 철회는 동의하는 것보다 어렵지 않게 "
        "참여자 화면에서 바로 할 수 있습니다.",
        f"You have the right to refuse each consent separately: collection and use, sensitive information, "
        f"provision to third parties{voice_en}. After consenting you can withdraw any or all of them at any time, "
        "directly from your contributor pages, in no more steps than it took to consent.",
    )


def _refusal_consequences(campaign: Campaign) -> LocalizedText:
    payment = _payment(campaign)
    if not campaign.payment_krw:  # an unpaid campaign: nothing to lose but taking part
        return _t(
            "필수 동의(개인정보 수집·이용, 민감정보 처리)를 거부하면 캠페인에 참여할 수 없습니다. 선택 동의를 "
            "거부하더라도 참여에는 아무런 불이익이 없습니다.",
            "If you refuse a required consent (collection and use, sensitive information) you cannot take part in "
            "the campaign. Refusing an optional consent has no effect at all on taking part.",
        )
    return _t(
        "필수 동의(개인정보 수집·이용, 민감정보 처리)를 거부하면 캠페인에 참여할 수 없으며 참여 대가"
        f"({payment.ko})를 받을 수 없습니다. 선택 동의를 거부하더라도 참여와 대가 지급에는 아무런 불이익이 없습니다.",
        "If you refuse a required consent (collection and use, sensitive information) you cannot take part in "
        f"the campaign and will not receive the payment ({payment.en}). Refusing an optional consent has no "
        "effect at all on taking part or on your payment.",
    )


_LEGAL_BASIS = _t(
    "정보주체의 동의(개인정보 보호법 제15조제1항제1호, 제17조제1항제1호, 제23조제1항제1호). 유럽연합에 있는 "
    "정보주체의 경우 GDPR 제6조제1항(a) 및 제9조제2항(a)에 따른 명시적 동의.",
    "Your consent (Personal Information Protection Act Art. 15(1)(1), 17(1)(1) and 23(1)(1)); for people in "
    "the European Union, explicit consent under GDPR Art. 6(1)(a) and 9(2)(a).",
)
_RIGHTS = _t(
    "귀하는 언제든지 개인정보의 열람, 정정·삭제, 처리정지, 동의 철회를 요구할 수 있으며, 유럽연합에 있는 경우 "
    "개인정보 이동도 요구할 수 있습니다. 참여자 화면에서 직접 하거나 개인정보 보호책임자에게 연락해 주십시오.",
    "You may at any time ask to access, correct or erase your personal information, to stop its processing, or "
    "to withdraw consent; in the European Union also to receive your data in a portable form. Do it directly "
    "from your contributor pages or contact the privacy officer.",
)
_COMPLAINT = _t(
    "개인정보 침해에 대해서는 개인정보보호위원회(www.pipc.go.kr) 또는 개인정보침해신고센터(국번 없이 118)에 "
    "신고하거나 상담할 수 있습니다. 유럽연합에 거주하는 경우 거주지의 감독기관에 불만을 제기할 수 있습니다.",
    "You may complain to the Personal Information Protection Commission of Korea (www.pipc.go.kr) or the "
    "Personal Information Infringement Report Center (118 in Korea); if you live in the European Union, to the "
    "supervisory authority where you live.",
)
_TRANSFERS = _t(
    "개인정보를 국외로 이전하지 않습니다. 제3자 제공은 아래 제3자 제공 동의 사항에 적힌 국내 수령자에게만 합니다.",
    "Your personal information is not transferred outside the Republic of Korea. It is provided to third "
    "parties only as described in the third-party consent below, to recipients in Korea.",
)


# --- the consent matters -----------------------------------------------------------------------------------


def _four_points(
    purpose: LocalizedText, items: LocalizedText, retention: LocalizedText, refusal: LocalizedText
) -> LocalizedText:
    """A matter's full text in the usual Korean four-point form (purpose, items, period, right to refuse)."""
    return _t(
        f"1. 목적: {purpose.ko}\n2. 항목: {items.ko}\n3. 보유 및 이용 기간: {retention.ko}\n"
        f"4. 동의 거부 권리 및 불이익: {refusal.ko}",
        f"1. Purpose: {purpose.en}\n2. Items: {items.en}\n3. Retention: {retention.en}\n"
        f"4. Your right to refuse: {refusal.en}",
    )


def _required_refusal(campaign: Campaign) -> LocalizedText:
    payment = _payment(campaign)
    if not campaign.payment_krw:
        return _t("동의를 거부할 수 있으나, 이 동의는 참여에 필수이므로 거부하면 참여할 수 없습니다.",
                  "You may refuse, but this consent is required to take part: if you refuse you cannot take part.")
    return _t(
        "동의를 거부할 수 있으나, 이 동의는 참여에 필수이므로 거부하면 참여할 수 없고 "
        f"참여 대가({payment.ko})를 받을 수 없습니다.",
        f"You may refuse, but this consent is required to take part: if you refuse you cannot take part and will "
        f"not receive the payment ({payment.en}).",
    )


_OPTIONAL_REFUSAL = _t(
    "동의를 거부할 수 있으며, 거부하더라도 참여와 대가 지급에는 아무런 불이익이 없습니다.",
    "You may refuse; refusing has no effect on taking part or on your payment.",
)


def _period(campaign: Campaign) -> LocalizedText:
    days = campaign.retention_days
    return _t(
        f"캠페인 종료 후 {days}일까지(철회 시 {ERASURE_DAYS}일 이내 파기)",
        f"until {_days(days)} after the campaign closes (destroyed within {ERASURE_DAYS} days of a withdrawal)",
    )


def _collection_matter(campaign: Campaign) -> Matter:
    photos = _photos(campaign)
    return Matter(
        id="collection",
        kind=MatterKind.COLLECTION_AND_USE,
        summary=_t(
            "얼굴 사진과 촬영 시점, 생년월일, 계정·지급 정보를 수집하여 데이터셋 구축·검수와 참여 대가 지급에 "
            "이용합니다.",
            "We collect your face photos with when they were taken, your birth date and your account and payment "
            "details, and use them to build and review the dataset and to pay you.",
        ),
        full_text=_four_points(
            _t(
                "AI 연구·학습용 얼굴 데이터셋 구축, 사진 품질 검사 및 검수, 참여 자격 확인, "
                "참여 대가 지급, 동의 기록 보관",
                "building a face dataset for AI research and training, checking and reviewing photo quality, "
                "checking eligibility, paying you, keeping the record of your consent",
            ),
            _t(
                f"{photos.ko}, 각 사진의 촬영 시점 또는 촬영 당시 나이, 생년월일, 이메일, 이름, "
                "은행명, 계좌번호, 예금주",
                f"{photos.en}, when each photo was taken or your age at the time, birth date, email, name, bank, "
                "account number, account holder",
            ),
            _period(campaign),
            _required_refusal(campaign),
        ),
        data_categories=(
            "face_image",
            "capture_date",
            "age_at_capture",
            "birth_date",
            "contact_details",
            "bank_account",
        ),
    )


def _feature_items(voice: bool) -> LocalizedText:
    if voice:
        items = _t(
            "얼굴 사진에서 추출한 얼굴 특징정보(특징 벡터), 음성에서 추출한 음성 특징정보. 음성 특징정보는 음성 녹음에 "
            "동의한 경우에만 생성합니다.",
            "face features (feature vectors) computed from your photos, voice features computed from your "
            "recordings. Voice features are derived only if you consent to voice recordings.",
        )
    else:
        items = _t(
            "얼굴 사진에서 추출한 얼굴 특징정보(특징 벡터).",
            "face features (feature vectors) computed from your photos.",
        )
    return _t(
        f"{items.ko} 특징정보는 암호화하여 신원 정보와 분리해 보관하며, 연구기관에 제공하지 않습니다.",
        f"{items.en} Features are encrypted, kept apart from your identity and never provided to researchers.",
    )


def _sensitive_matter(campaign: Campaign) -> Matter:
    voice = campaign.has_voice
    ko_voice, en_voice = ("·음성", " and voice") if voice else ("", "")
    return Matter(
        id="sensitive",
        kind=MatterKind.SENSITIVE_INFORMATION,
        summary=_t(
            f"사진{ko_voice}이 모두 본인의 것인지 확인하고 품질을 검사하기 위해, 개인을 알아볼 수 있는 "
            f"얼굴{ko_voice} 특징정보(민감정보)를 생성·이용합니다.",
            f"To confirm that all photos{en_voice} are yours and to check their quality, we derive face{en_voice} "
            "features that can identify you (sensitive information).",
        ),
        full_text=_four_points(
            _t(
                f"제출한 사진{ko_voice}이 같은 사람의 것인지 확인(본인 확인) 및 품질 검사",
                f"confirming that the photos{en_voice} you submit are of the same person, and checking quality",
            ),
            _feature_items(voice),
            _t(
                f"검사가 끝나면 지체 없이 파기하며, 늦어도 캠페인 종료 후 {campaign.retention_days}일까지(철회 시 "
                f"{ERASURE_DAYS}일 이내 파기)",
                "destroyed without delay once the checks are done, at the latest "
                f"{_days(campaign.retention_days)} after the campaign closes "
                f"(within {ERASURE_DAYS} days of a withdrawal)",
            ),
            _required_refusal(campaign),
        ),
        data_categories=("face_features", "voice_features") if voice else ("face_features",),
    )


def _release_matter(campaign: Campaign, controller_name: str) -> Matter:
    voice = campaign.has_voice
    ko_voice = ", 음성 녹음(음성 녹음에 동의한 경우)" if voice else ""
    en_voice = ", voice recordings (if you consent to voice recordings)" if voice else ""
    provision = ThirdPartyProvision(
        recipient=_t(
            f"개인정보처리자({controller_name})와 데이터 이용 계약을 체결한 국내 대학·연구기관 및 기업",
            f"Universities, research institutes and companies in Korea that have signed a data licence agreement "
            f"with {controller_name}",
        ),
        purpose=_t(
            "얼굴 인식, 연령 추정 등 인공지능 기술의 연구·개발 및 성능 평가",
            "Research, development and evaluation of AI technology such as face recognition and age estimation",
        ),
        items=_t(
            f"메타데이터를 제거하고 가명 처리한 얼굴 사진{ko_voice}, 촬영 당시 연령대",
            f"Face photos with metadata removed and under a pseudonym{en_voice}, age band at the time of each photo",
        ),
        retention=_t(
            f"이용 계약 기간(최대 {LICENSEE_RETENTION_YEARS}년) 동안 보유하며, 계약이 끝나거나 동의 철회를 통지받으면 "
            "지체 없이 파기",
            f"For the term of the licence (at most {LICENSEE_RETENTION_YEARS} years); destroyed without delay when "
            "the licence ends or when told of your withdrawal",
        ),
    )
    return Matter(
        id="release",
        kind=MatterKind.THIRD_PARTY_PROVISION,
        summary=_t(
            f"메타데이터를 제거하고 가명 처리한 사진{'과 음성' if voice else ''}을 연구기관·기업에 데이터셋으로 "
            "제공합니다.",
            f"We provide your photos{' and recordings' if voice else ''}, with metadata removed and under a "
            "pseudonym, to research licensees as a dataset.",
        ),
        full_text=_t(
            "제공하는 사진에서는 위치·기기 정보 등 메타데이터를 모두 제거하고, 이름 대신 배포본마다 다른 가명을 "
            "씁니다. 다만 얼굴과 목소리는 그 자체로 사람을 알아볼 수 있으므로 완전한 익명이 되지는 않습니다. "
            "제공받는 자는 계약에 따라 재식별 시도와 재제공이 금지됩니다. 동의를 철회하면 이후의 모든 배포에서 "
            "제외되며, 이미 제공된 데이터는 제공받는 자에게 파기를 요청합니다. 이 동의는 선택 사항이며, "
            "거부하더라도 참여와 대가 지급에는 아무런 불이익이 없습니다.",
            "Every photo provided has all metadata (such as location and device) removed and carries a pseudonym "
            "that differs for each release instead of your name. A face or a voice can still identify a person by "
            "itself, so the data is not fully anonymous. Recipients are bound by contract not to try to re-identify "
            "anyone and not to pass the data on. If you withdraw, you are left out of every later release and we ask "
            "recipients to destroy what they already received. This consent is optional: refusing has no effect on "
            "taking part or on your payment.",
        ),
        data_categories=("face_image", "age_band", "voice_recording") if voice else ("face_image", "age_band"),
        third_party=provision,
    )


def _voice_matter(campaign: Campaign) -> Matter:
    prompts = _prompts(campaign)
    return Matter(
        id="voice",
        kind=MatterKind.VOICE_RECORDING,
        summary=_t(
            f"제시된 문장 {prompts}개를 읽는 목소리를 녹음하여 음성 데이터셋 구축에 이용합니다.",
            f"We record you reading {prompts} sentence(s) aloud and use the recordings to build a voice dataset.",
        ),
        full_text=_four_points(
            _t(
                "AI 연구·학습용 음성 데이터셋 구축 및 녹음 품질 검사",
                "building a voice dataset for AI research and training, and checking recording quality",
            ),
            _t(
                "음성 녹음 파일과 녹음 길이 등 기술 정보",
                "your voice recordings and technical details such as their length",
            ),
            _period(campaign),
            _OPTIONAL_REFUSAL,
        ),
        data_categories=("voice_recording",),
    )


def fit_to_campaign(notice: Notice, template: Notice) -> Notice:
    """`notice` with the matters its campaign needs, for drafting the next version: each matter kind of
    `template` (the campaign's `default_notice`) that `notice` lacks is added from the template, a voice
    matter is dropped when the campaign no longer collects voice, and the voice flag and jurisdictions follow
    the template. Everything else `notice` says is kept."""
    matters = [m for m in notice.matters if template.collects_voice or m.kind is not MatterKind.VOICE_RECORDING]
    kinds, ids = {m.kind for m in matters}, {m.id for m in matters}
    matters += [m for m in template.matters if m.kind not in kinds and m.id not in ids]
    return dataclasses.replace(
        notice, matters=tuple(matters), collects_voice=template.collects_voice, jurisdictions=template.jurisdictions
    )


# What the notice tells people about the campaign, by setting: a published notice written for other values
# misstates the collection (a title or a description edit does not).
_FACTS = {
    "brackets": lambda c: [[int(b["min_age"]), int(b["max_age"]), int(b["photos"])] for b in c.brackets],
    "payment_krw": lambda c: int(c.payment_krw),
    "voice_prompts": lambda c: [[p.get("text_ko"), p.get("text_en"), p.get("min_seconds"), p.get("max_seconds")]
                                for p in c.voice_prompts],
    "retention_days": lambda c: int(c.retention_days),
    "ages": lambda c: [int(c.min_age), int(c.max_age)],
}


def notice_facts(campaign: Campaign) -> dict[str, Any]:
    """The campaign settings its consent notice states (saved with each notice version as `written_for`)."""
    return {name: read(campaign) for name, read in _FACTS.items()}


def facts_changed(written_for: dict[str, Any] | None, campaign: Campaign) -> list[str]:
    """The settings (names of `_FACTS`) that changed since a notice was written for `written_for`; [] when it
    still describes the campaign, or when it predates the record (None: nothing to compare)."""
    if written_for is None:
        return []
    now = notice_facts(campaign)
    return [name for name in _FACTS if written_for.get(name) != now[name]]


def campaign_as_written(campaign: Campaign, written_for: dict[str, Any]) -> Campaign:
    """A detached copy of `campaign` with the settings a notice was `written_for` (what `notice_facts` saved), so
    that `default_notice` can say what the default text was then. Never added to a session."""
    then = Campaign(slug=campaign.slug, title_ko=campaign.title_ko, title_en=campaign.title_en)
    now = notice_facts(campaign)  # a setting the record lacks is taken as unchanged
    then.brackets = [{"min_age": lo, "max_age": hi, "photos": n}
                     for lo, hi, n in written_for.get("brackets", now["brackets"])]
    then.voice_prompts = [{"text_ko": ko, "text_en": en, "min_seconds": lo, "max_seconds": hi}
                          for ko, en, lo, hi in written_for.get("voice_prompts", now["voice_prompts"])]
    then.payment_krw = int(written_for.get("payment_krw", campaign.payment_krw))
    then.retention_days = int(written_for.get("retention_days", campaign.retention_days))
    then.min_age, then.max_age = written_for.get("ages", [campaign.min_age, campaign.max_age])
    return then
