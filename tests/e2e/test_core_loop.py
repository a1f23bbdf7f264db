"""The product's core loop in a real browser (headless Debian Chromium driven by Playwright) against the real app
served on 127.0.0.1: a contributor on a phone signs up, signs the consent document, uploads photos into the age
brackets, sees a gate result (a photo without a face fails with a reason in plain words, a real face passes),
sends the set and adds the bank account they are paid to; an operator on a desktop rejects one photo; the
contributor replaces it; the operator accepts the set; the payout batch is exported as CSV (with the bank
account) and marked paid, and the contributor sees the payment.

Only the operator account and the open campaign with its published notice are seeded; everything else is done
through the pages, with the gate jobs running in the app's own background thread."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import DESKTOP, PHONE, WAIT_MS
from tests.e2e.e2e_support import (
    CAMPAIGN_SLUG,
    CAMPAIGN_TITLE,
    OPERATOR_EMAIL,
    OPERATOR_PASSWORD,
    LiveApp,
    Shots,
    birth_date_aged,
    write_photos,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NAME = "김민지"
EMAIL = "minji@example.com"
PASSWORD = "minji-e2e-password-1"


# --- small page helpers ------------------------------------------------------------------------------------------
def expect_flash(page: Page, text: str) -> None:
    expect(page.locator(".flash").filter(has_text=text).first).to_be_visible()


def bracket(page: Page, key: str) -> Locator:
    return page.locator(f"section.bracket[data-bracket='{key}']")


def wait_for_gates(card: Locator, live: LiveApp) -> str:
    """Wait until the card leaves 'checking' (its status is polled by upload.js); the state it reached."""
    try:
        expect(card).not_to_have_attribute("data-state", "checking", timeout=WAIT_MS)
    except AssertionError as exc:
        raise AssertionError(f"the photo stayed 'checking' for {WAIT_MS} ms\n{live.diagnostics()}") from exc
    return str(card.get_attribute("data-state"))


def expect_images_loaded(images: Locator) -> None:
    """Every image matched has loaded and decoded (a broken one finishes with naturalWidth 0)."""
    for i in range(images.count()):
        image = images.nth(i)
        image.scroll_into_view_if_needed()  # the cards' thumbnails load lazily
        expect(image).to_have_js_property("complete", True)
        src = image.get_attribute("src")
        assert image.evaluate("img => img.naturalWidth") > 0, f"image {src} did not load"


def fact(page: Page, term: str) -> Locator:
    """The <dd> of a <dl class="facts"> entry, by its <dt>."""
    return page.locator(f"dl.facts dt:text-is('{term}') + dd")


def expect_state(card: Locator, live: LiveApp, wanted: str) -> None:
    state = wait_for_gates(card, live)
    notes = card.locator("[data-role='notes']").inner_text()
    assert state == wanted, f"photo is {state!r}, expected {wanted!r}; notes: {notes!r}\n{live.diagnostics()}"


# --- the contributor's steps (phone) -------------------------------------------------------------------------------
def sign_up(page: Page, live: LiveApp, shots: Shots) -> None:
    page.goto(live.url("/"))
    page.get_by_role("link", name=CAMPAIGN_TITLE).click()
    page.get_by_role("region", name="Take part").get_by_role("link", name="Sign up").click()
    page.get_by_label("Display name").fill(NAME)
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Birth date").fill(birth_date_aged(35.5).isoformat())
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_label("Language").select_option("en")
    page.get_by_label("I have read the privacy policy").check()
    shots.take(page, "phone-signup")
    page.get_by_role("button", name="Create account").click()
    expect_flash(page, "Welcome! Your account is ready.")
    # sign-up honours `next`: the person is taken back to the campaign they came from
    expect(page.get_by_text("KRW 30,000 per accepted set")).to_be_visible()


def sign_consent(page: Page, shots: Shots) -> None:
    if not page.get_by_text("KRW 30,000 per accepted set").is_visible():
        page.get_by_role("link", name=CAMPAIGN_TITLE).click()
    expect(page.get_by_text("KRW 30,000 per accepted set")).to_be_visible()
    shots.take(page, "phone-campaign")
    page.get_by_role("button", name="Join: read the consent document").click()
    expect_flash(page, "Signing it also joins you to this campaign")
    required = page.locator("fieldset.matter").filter(has=page.locator(".badge", has_text="required"))
    optional = page.locator("fieldset.matter").filter(has=page.locator(".badge", has_text="optional"))
    declined = optional.count()
    assert required.count() >= 2 and declined >= 1, "each consent is asked separately"
    for i in range(required.count()):
        required.nth(i).get_by_label("I agree", exact=True).check()
    for i in range(declined):  # declining an optional consent must not block taking part
        optional.nth(i).get_by_label("I do not agree", exact=True).check()
    page.get_by_label("Your full name, typed as your signature").fill(NAME)
    shots.take(page, "phone-consent")
    page.get_by_role("button", name="Sign and agree").click()
    expect_flash(page, "Your consent is recorded and signed")
    expect(fact(page, "Signature").locator(".badge")).to_have_text("valid")
    choices = page.locator("table tbody td .badge")
    expect(choices.filter(has_text="not agreed")).to_have_count(declined)


def join(page: Page) -> None:
    """Signing the consent joined the campaign: the receipt leads on to the photo set."""
    page.get_by_role("link", name="Go to my photo set").click()
    expect(page).to_have_url(re.compile(f"/me/campaigns/{CAMPAIGN_SLUG}/set"))
    expect(page.locator("[data-role='set-state']")).to_have_text("Not sent yet")


def upload(page: Page, key: str, photo: Path, age: int) -> Locator:
    """Choose one file in a bracket, give its age, upload it; the photo's new card."""
    section = bracket(page, key)
    section.get_by_label(re.compile("Choose photos of you")).set_input_files(photo)
    section.locator(".pending-item").get_by_label("Age in this photo (optional)").fill(str(age))
    section.get_by_role("button", name="Upload the chosen photos").click()
    card = section.locator("li.photo-card")
    expect(card).to_have_count(1)
    return card


def a_file_that_is_not_a_photo_is_named_not_dropped(page: Page, tmp_path: Path) -> None:
    recording = tmp_path / "memo.wav"
    recording.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    section = bracket(page, "20-29")
    section.get_by_label(re.compile("Choose photos of you")).set_input_files(recording)
    expect(section.locator("[data-role='skipped']")).to_have_text("Not a photo, so not added: memo.wav")
    expect(section.locator(".pending-item")).to_have_count(0)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a photo")
    section.get_by_label(re.compile("Choose photos of you")).set_input_files(broken)
    section.get_by_role("button", name="Upload the chosen photos").click()
    item = section.locator(".pending-item.failed")
    expect(item).to_have_count(1)  # refused, and kept in the list with the reason
    expect(item.get_by_role("button", name="Try again")).to_be_hidden()  # a retry could only fail the same way
    item.get_by_role("button", name="Remove from the list").click()
    expect(section.locator(".pending-item")).to_have_count(0)


def upload_after_correcting_the_age(page: Page, key: str, photo: Path, wrong: int, right: int) -> Locator:
    """An age the bracket cannot hold is refused; correcting it in place lets the same file go again."""
    section = bracket(page, key)
    section.get_by_label(re.compile("Choose photos of you")).set_input_files(photo)
    age = section.locator(".pending-item").get_by_label("Age in this photo (optional)")
    age.fill(str(wrong))
    button = section.get_by_role("button", name="Upload the chosen photos")
    button.click()
    expect(section.locator(".pending-item.refused")).to_contain_text(f"You gave age {wrong}")
    expect(button).to_be_disabled()  # not resent as it is
    age.fill(str(right))
    expect(button).to_be_enabled()
    button.click()
    card = section.locator("li.photo-card")
    expect(card).to_have_count(1)
    return card


def see_a_failing_gate_then_remove_it(page: Page, live: LiveApp, shots: Shots, photos: dict[str, Path]) -> None:
    card = upload_after_correcting_the_age(page, "20-29", photos["no_face"], 50, 25)
    expect_state(card, live, "failed")
    expect(card.locator("[data-role='state']")).to_have_text("Did not pass: replace it")
    expect(card.locator("[data-role='notes']")).to_contain_text("We could not find a face in this photo.")
    expect(card.get_by_text("Ask a person to check").first).to_be_visible()
    expect(bracket(page, "20-29").locator("form.upload")).to_be_hidden()  # a full bracket offers Replace
    shots.take(page, "phone-gate-failed")
    ask = card.locator("details[data-action='review']")
    ask.locator("summary").click()
    ask.get_by_label("Why do you think this photo is fine?").fill("My face is there, under the hat.")
    ask.get_by_role("button", name="Ask a person to check").click()
    expect(card.locator("[data-role='state']")).to_have_text("A person will check it")
    expect(ask).to_be_hidden()  # sent: the form goes at once, not on the next reload
    expect(card.locator("[data-role='state']")).to_be_focused()  # and the focus lands on the new state
    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Remove").click()
    expect(card).to_have_count(0)
    expect(bracket(page, "20-29").locator("form.upload")).to_be_visible()


def upload_passing_photos(page: Page, live: LiveApp, shots: Shots, photos: dict[str, Path]) -> None:
    for key, name, age in (("20-29", "twenties", 25), ("30-39", "thirties", 33)):
        card = upload(page, key, photos[name], age)
        expect_state(card, live, "passed")
        expect(card.locator("[data-role='state']")).to_have_text("Passed the checks")
        expect(card.locator("[data-role='age']")).to_have_text(f"Age {age} (as you gave it)")
    expect_images_loaded(page.locator("li.photo-card img.thumb"))  # decrypted for their owner
    submit = page.get_by_role("button", name="Send my set for review")
    expect(submit).to_be_enabled()
    shots.take(page, "phone-set-ready")


def send_for_review(page: Page) -> None:
    page.get_by_role("button", name="Send my set for review").click()
    expect_flash(page, "Your set is sent for review.")
    expect(page.locator("[data-role='set-state']")).to_have_text("Waiting for review")


def replace_rejected(page: Page, live: LiveApp, shots: Shots, photos: dict[str, Path]) -> None:
    page.get_by_role("link", name="My contributions", exact=True).click()
    page.get_by_role("link", name="Continue my photo set").click()
    expect(page.locator("[data-role='set-state']")).to_have_text("Changes requested")
    rejected = page.locator("li.photo-card[data-state='rejected']")
    expect(rejected).to_have_count(1)
    expect(rejected.locator("[data-role='state']")).to_have_text("Rejected: please replace")
    expect(rejected.get_by_text("The photo is blurred.")).to_be_visible()
    expect(rejected.get_by_text("Reviewer's comment: The eyes are out of focus.")).to_be_visible()
    shots.take(page, "phone-changes-requested")
    replace = rejected.locator("details[data-action='replace']")
    replace.locator("summary").click()
    expect(replace.get_by_label("Your age in this photo (optional)")).to_have_value("25")
    replace.get_by_label("New photo").set_input_files(photos["replacement"])
    replace.get_by_role("button", name="Replace").click()
    fresh = bracket(page, "20-29").locator("li.photo-card")
    expect(fresh).not_to_have_attribute("data-state", "rejected")
    expect_state(fresh, live, "passed")
    send_for_review(page)


def see_payment(page: Page, shots: Shots) -> None:
    page.get_by_role("link", name="My contributions", exact=True).click()
    expect(fact(page, "Paid")).to_have_text("KRW 30,000")
    expect(fact(page, "To be paid")).to_have_text("KRW 0")
    expect(page.locator(".my-sets .badge")).to_have_text("Paid")
    shots.take(page, "phone-paid")


def add_payout_account(page: Page, shots: Shots) -> None:
    """From the dashboard's earnings notice to a saved bank account, shown masked."""
    page.get_by_role("link", name="My contributions", exact=True).click()
    page.get_by_role("link", name="Add a payout account").click()
    page.get_by_label("Bank").select_option("090")
    page.get_by_label("Account holder").fill(NAME)
    page.get_by_label("Account number").fill("3333-01-2345678")
    page.get_by_role("button", name="Save the payout account").click()
    expect_flash(page, "Your payout account was saved.")
    expect(fact(page, "Account number")).to_have_text("•••••••••5678")
    shots.take(page, "phone-payout-account")


# --- the operator's steps (desktop) --------------------------------------------------------------------------------
def sign_in_operator(page: Page, live: LiveApp) -> None:
    page.goto(live.url("/login"))
    page.get_by_label("Email").fill(OPERATOR_EMAIL)
    page.get_by_label("Password").fill(OPERATOR_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Campaigns", exact=True)).to_be_visible()


def claim_the_set(page: Page) -> None:
    page.get_by_role("link", name="Review queue").first.click()
    row = page.locator("table.review-queue tbody tr").filter(has_text=CAMPAIGN_TITLE)
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Claim").click()
    expect_flash(page, "The set is yours to review")


def decide(page: Page, number: int, accept: bool) -> None:
    group = page.get_by_role("group", name=f"Decision on photo #{number}")
    if accept:
        group.get_by_label("Accept", exact=True).check()
        return
    group.get_by_label("Reject", exact=True).check()
    group.get_by_label("Reason").select_option(label="Blurred")
    group.get_by_label("Comment").fill("The eyes are out of focus.")


def reject_one(page: Page, shots: Shots) -> None:
    claim_the_set(page)
    expect(page.locator("li.review-photo")).to_have_count(2)
    expect(page.locator("svg.face-box")).to_have_count(2)  # the detector's face box over each photo
    expect_images_loaded(page.locator("li.review-photo img"))  # decrypted for staff (and each view audited)
    decide(page, 1, accept=False)
    decide(page, 2, accept=True)
    shots.take(page, "desktop-review-round1")
    page.get_by_role("button", name="Send the decision").click()
    expect_flash(page, "Changes requested")


def accept_replacement(page: Page, shots: Shots) -> None:
    page.get_by_role("link", name="Campaigns", exact=True).click()
    claim_the_set(page)
    changes = page.locator("section.changes")
    expect(changes.get_by_role("heading", name="What changed in round 2")).to_be_visible()
    expect(changes).to_contain_text("replaces a rejected photo")
    expect(changes).to_contain_text("Blurred")
    expect_images_loaded(changes.get_by_role("img"))  # the rejected photo beside its replacement
    history = page.locator("table.history tbody tr").filter(has=page.locator(".badge", has_text="rejected"))
    expect(history).to_contain_text("Blurred — The eyes are out of focus.")
    expect(page.get_by_role("group", name="Decision on photo #2").get_by_label("Accept", exact=True)).to_be_checked()
    decide(page, 1, accept=True)
    shots.take(page, "desktop-review-round2")
    page.get_by_role("button", name="Send the decision").click()
    expect_flash(page, "The set is accepted and its payment is in the ledger.")


def export_payout(page: Page, shots: Shots, folder: Path) -> list[dict[str, str]]:
    """Create a batch, download its bank-transfer CSV, mark it paid; the CSV's rows."""
    page.get_by_role("link", name="Payments").first.click()
    waiting = page.locator("table.payments tbody tr").filter(has_text=NAME)
    expect(waiting).to_contain_text("KRW 30,000")
    page.get_by_role("button", name="Create a payout batch").click()
    expect_flash(page, "Download its file for the bank transfer.")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the bank-transfer file (CSV)").click()
    saved = folder / "payout.csv"
    download.value.save_as(saved)
    page.get_by_label("I confirm the bank transfer of every entry in this batch was made.").check()
    page.get_by_role("button", name="Mark the batch paid").click()
    expect_flash(page, "Marked paid: 1 entries.")
    shots.take(page, "desktop-batch-paid")
    raw = saved.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "the CSV starts with a UTF-8 BOM so Excel keeps Hangul names"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


# --- the loop ------------------------------------------------------------------------------------------------------
def test_sign_up_to_payout_in_a_real_browser(
    live: LiveApp, person: Callable[[str, dict[str, Any]], Page], shots: Shots, tmp_path: Path
) -> None:
    photos = write_photos(tmp_path / "photos")
    phone = person("contributor", PHONE)
    sign_up(phone, live, shots)
    sign_consent(phone, shots)
    join(phone)
    a_file_that_is_not_a_photo_is_named_not_dropped(phone, tmp_path)
    see_a_failing_gate_then_remove_it(phone, live, shots, photos)
    upload_passing_photos(phone, live, shots, photos)
    send_for_review(phone)
    add_payout_account(phone, shots)

    desktop = person("operator", DESKTOP)
    sign_in_operator(desktop, live)
    reject_one(desktop, shots)
    replace_rejected(phone, live, shots, photos)
    accept_replacement(desktop, shots)
    rows = export_payout(desktop, shots, tmp_path)
    assert [(r["payee_name"], r["campaign"], r["amount_krw"]) for r in rows] == [(NAME, CAMPAIGN_SLUG, "30000")]
    assert [(r["bank_code"], r["bank_name"], r["account_holder"], r["account_number"]) for r in rows] == [
        ("090", "카카오뱅크", NAME, "3333012345678")
    ]
    see_payment(phone, shots)
