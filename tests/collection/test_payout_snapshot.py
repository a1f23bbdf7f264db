"""A payout batch keeps the account each payee had when the batch was made: its bank file is the same on every
download even if the contributor changes their account in between; the copy is sealed at rest, appears in the
contributor's own data export, and goes when the account is erased."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from collection.contributions.models import Enrollment, EnrollmentState, PhotoSet, SetState
from collection.payments.models import LedgerEntry
from tests.collection.flow_support import build_env
from tests.collection.test_export import export


@pytest.fixture()
def env(db_session: Any, test_sessionmaker: Any, clock: Any) -> Any:
    return build_env(db_session, test_sessionmaker, clock)


def accepted_entry(env: Any, user: Any, campaign: Any) -> LedgerEntry:
    """An accepted set's ledger entry, made directly (the review flow that makes them is tested elsewhere)."""
    enrollment = Enrollment(campaign_id=campaign.id, user_id=user.id, joined_at=env.clock.now(),
                            state=EnrollmentState.ACTIVE)
    env.session.add(enrollment)
    env.session.flush()
    photo_set = PhotoSet(enrollment_id=enrollment.id, campaign_id=campaign.id, user_id=user.id,
                         state=SetState.ACCEPTED)
    env.session.add(photo_set)
    env.session.flush()
    entry = LedgerEntry(set_id=photo_set.id, user_id=user.id, campaign_id=campaign.id, amount_krw=50_000,
                        created_at=env.clock.now())
    env.session.add(entry)
    env.session.flush()
    return entry


def test_the_bank_file_keeps_the_account_the_batch_was_made_with(env: Any, make_user: Any,
                                                                  make_campaign: Any) -> None:
    operator, user = make_user("operator"), make_user("contributor")
    first_campaign, second_campaign = make_campaign(), make_campaign()
    accepted_entry(env, user, first_campaign)
    env.payments.save_payout_account(user, "004", "김민지", "123456-78-901234")
    batch = env.payments.create_batch(operator)
    env.session.commit()
    before = env.payments.export_csv(operator, batch)
    assert "12345678901234" in before and "김민지" in before

    env.payments.save_payout_account(user, "088", "김민지", "110-234-567890")  # changed after the batch
    env.session.commit()
    assert env.payments.export_csv(operator, batch) == before  # the same file, however often it is downloaded

    accepted_entry(env, user, second_campaign)  # the new account applies from the next batch
    later = env.payments.create_batch(operator)
    env.session.commit()
    file = env.payments.export_csv(operator, later)
    assert "110234567890" in file and "12345678901234" not in file


def test_the_copy_is_sealed_exported_to_its_owner_and_erased_with_the_account(env: Any, make_user: Any,
                                                                             make_campaign: Any) -> None:
    operator, user = make_user("operator"), make_user("contributor")
    entry = accepted_entry(env, user, make_campaign())
    env.payments.save_payout_account(user, "004", "박서준", "987654-32-100001")
    batch = env.payments.create_batch(operator)
    env.session.commit()

    raw = env.session.execute(text("SELECT payee_holder, payee_account_number FROM ledger_entries WHERE id = :i"),
                              {"i": entry.id}).one()
    assert all(isinstance(v, bytes | memoryview) for v in raw)
    assert b"98765432100001" not in bytes(raw[1]) and "박서준".encode() not in bytes(raw[0])

    _, index, _ = export(env, user)
    assert index["payments"][0]["paid_to"] == {"bank_code": "004", "account_holder": "박서준",
                                               "account_number": "98765432100001"}

    env.erasure.erase_account(user)
    env.session.commit()
    env.session.refresh(entry)
    assert (entry.payee_bank_code, entry.payee_holder, entry.payee_account_number) == (None, None, None)
    assert "98765432100001" not in env.payments.export_csv(operator, batch)


def test_a_payee_paid_before_in_the_same_campaign_is_pointed_out(env: Any, make_user: Any,
                                                                 make_campaign: Any) -> None:
    user, other = make_user("contributor"), make_user("contributor")
    campaign, elsewhere = make_campaign(), make_campaign()
    first = accepted_entry(env, user, campaign)
    env.session.get(Enrollment, env.session.get(PhotoSet, first.set_id).enrollment_id).state = EnrollmentState.ERASED
    accepted_entry(env, user, elsewhere)  # another campaign does not count
    again = accepted_entry(env, user, campaign)  # joined anew after the erasure, accepted and owed again
    accepted_entry(env, other, campaign)
    for payee in (user, other):
        env.payments.save_payout_account(payee, "004", "김민지", "123456-78-901234")
    lines = {line.entry.id: line for line in env.payments.lines(env.payments.unbatched())}
    assert lines[again.id].same_campaign_others == 1 and lines[first.id].same_campaign_others == 1
    assert sorted(line.same_campaign_others for line in lines.values()) == [0, 0, 1, 1]
    second_set = env.session.get(PhotoSet, again.set_id)
    assert [e.id for e in env.payments.other_entries_in_campaign(second_set)] == [first.id]
    assert env.payments.other_entries_in_campaign(env.session.get(PhotoSet, first.set_id)) == [again]
