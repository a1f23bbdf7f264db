"""Property-based, stateful tests of consent over a real database (SQLite, and PostgreSQL when configured).

A hypothesis state machine gives, attempts uploads, withdraws some or all matters, re-consents and publishes
new notice versions for a few people in one campaign, while a plain model tracks what must hold:

* no upload is accepted without active consent to both required matters of the CURRENT version
  (`ConsentService.may_upload` is the upload gate);
* nothing is processed or released for a withdrawn purpose (`active_kinds`, which every processing step and
  release asks, never includes it);
* at most one active consent per person, campaign and matter;
* every receipt verifies, and flipping any byte of a receipt makes verification fail.

Example counts are modest so the whole file stays well under a minute.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from collection.campaigns import Campaign, CampaignStatus
from collection.contributions.withdrawal import withdraw_consent
from consent.clock import FixedClock
from consent.errors import ConsentStateError, ReceiptBuildError
from consent.models import MatterConsent
from consent.notice import LocalizedText, MatterKind
from consent.service import ConsentService, KeyStore, Signing
from tests.consent._consent_support import make_notice

PEOPLE = ("sub_alpha0001", "sub_bravo0002", "sub_charlie03")
MATTERS = {"collection": True, "sensitive": True, "release": False, "voice": False}  # id -> required
KINDS = {
    "collection": MatterKind.COLLECTION_AND_USE,
    "sensitive": MatterKind.SENSITIVE_INFORMATION,
    "release": MatterKind.THIRD_PARTY_PROVISION,
    "voice": MatterKind.VOICE_RECORDING,
}
REQUIRED = {m for m, required in MATTERS.items() if required}


@dataclasses.dataclass
class Person:
    """The model of one person's standing: the version they last signed and what is in force."""

    version: int | None = None
    in_force: set[str] = dataclasses.field(default_factory=set)


class ConsentMachine(RuleBasedStateMachine):
    engine: Engine  # set by the test before the machine runs

    def __init__(self) -> None:
        super().__init__()
        self.connection = self.engine.connect()
        self.transaction = self.connection.begin()
        self.session = Session(bind=self.connection, join_transaction_mode="create_savepoint")
        self.clock = FixedClock(dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC))
        self.service = ConsentService(
            self.session, self.clock, KeyStore(self.session, b"s" * 32, self.clock), "https://datadam.example/privacy"
        )
        self.campaign = self._campaign()
        self.current = 0
        self.people = {p: Person() for p in PEOPLE}
        self.receipts: list[bytes] = []
        self._publish()

    def teardown(self) -> None:
        self.session.close()
        self.transaction.rollback()
        self.connection.close()

    # -- set-up helpers ----------------------------------------------------------------------------------------
    def _campaign(self) -> Campaign:
        campaign = Campaign(
            slug="stateful-faces",
            title_ko="상태 기계",
            title_en="State machine",
            status=CampaignStatus.OPEN,
            brackets=[{"key": "20-29", "min_age": 20, "max_age": 29, "photos": 2}],
            created_at=self.clock.now(),
        )
        self.session.add(campaign)
        self.session.flush()
        return campaign

    def _publish(self) -> None:
        self.current += 1
        notice = make_notice(
            campaign=self.campaign.slug, purpose=LocalizedText(ko=f"목적 {self.current}", en=f"Purpose {self.current}")
        )
        self.service.publish(self.service.draft(self.campaign.id, notice), by=None)

    def _tick(self) -> None:
        self.clock.advance(seconds=1)

    def _keep(self, data: bytes) -> None:
        assert self.service.verify(data).valid
        self.receipts.append(data)

    # -- rules -------------------------------------------------------------------------------------------------
    @rule(person=st.sampled_from(PEOPLE), release=st.booleans(), voice=st.booleans())
    def give(self, person: str, release: bool, voice: bool) -> None:
        """Give (or re-consent to) the current version; optional matters as chosen."""
        self._tick()
        version = self.service.current_version(self.campaign.id)
        decisions = {"collection": True, "sensitive": True, "release": release, "voice": voice}
        record = self.service.give(person, version, Signing(decisions=decisions, language="ko", signature="김서명"))
        self.people[person] = Person(self.current, {m for m, on in decisions.items() if on})
        self._keep(record.receipt_bytes)

    @rule(person=st.sampled_from(PEOPLE), declined=st.sampled_from(sorted(REQUIRED)))
    def give_without_a_required_matter(self, person: str, declined: str) -> None:
        self._tick()
        version = self.service.current_version(self.campaign.id)
        decisions = {m: m != declined for m in MATTERS}
        before = self.service.count_records()
        with pytest.raises(ReceiptBuildError):
            self.service.give(person, version, Signing(decisions=decisions, language="en", signature="Kim"))
        assert self.service.count_records() == before

    @rule(person=st.sampled_from(PEOPLE))
    def upload_attempt(self, person: str) -> None:
        """The upload gate accepts exactly when both required matters are in force under the current version."""
        accepted = self.service.may_upload(person, self.campaign.id)
        model = self.people[person]
        assert accepted == (model.version == self.current and REQUIRED <= model.in_force)

    @rule(person=st.sampled_from(PEOPLE), chosen=st.sets(st.sampled_from(sorted(MATTERS))), everything=st.booleans())
    def withdraw(self, person: str, chosen: set[str], everything: bool) -> None:
        self._tick()
        model = self.people[person]
        matters = None if everything else chosen & model.in_force
        if not model.in_force or matters == set():
            with pytest.raises(ConsentStateError):
                withdraw_consent(
                    self.service, person, self.campaign.id, matters or set(MATTERS) - model.in_force, erasure=None
                )
            return
        outcome = withdraw_consent(self.service, person, self.campaign.id, matters, erasure=None)
        gone = model.in_force if matters is None else matters
        assert set(outcome.withdrawn) == gone
        assert outcome.erasure_due == bool(gone & REQUIRED)
        model.in_force -= gone
        self._keep(outcome.record.receipt_bytes)

    @precondition(lambda self: any(p.version not in (None, self.current) for p in self.people.values()))
    @rule(data=st.data())
    def reconsent(self, data: st.DataObject) -> None:
        stale = [p for p, m in self.people.items() if m.version not in (None, self.current)]
        person = data.draw(st.sampled_from(stale))
        assert self.service.needs_reconsent(person, self.campaign.id)
        self.give(person, release=False, voice=True)
        assert not self.service.needs_reconsent(person, self.campaign.id)

    @precondition(lambda self: self.current < 4)
    @rule()
    def publish_new_version(self) -> None:
        self._tick()
        self._publish()

    @precondition(lambda self: bool(self.receipts))
    @rule(data=st.data())
    def flip_a_byte(self, data: st.DataObject) -> None:
        receipt = data.draw(st.sampled_from(self.receipts))
        position = data.draw(st.integers(0, len(receipt) - 1))
        mask = data.draw(st.integers(1, 255))
        tampered = receipt[:position] + bytes([receipt[position] ^ mask]) + receipt[position + 1 :]
        assert not self.service.verify(tampered).valid

    # -- invariants --------------------------------------------------------------------------------------------
    @invariant()
    def nothing_runs_for_a_withdrawn_purpose(self) -> None:
        for person, model in self.people.items():
            assert self.service.active_kinds(person, self.campaign.id) == {KINDS[m] for m in model.in_force}

    @invariant()
    def at_most_one_active_consent_per_person_campaign_and_matter(self) -> None:
        counts = self.session.execute(
            select(MatterConsent.subject_id, MatterConsent.matter_id, func.count())
            .where(MatterConsent.campaign_id == self.campaign.id, MatterConsent.active.is_(True))
            .group_by(MatterConsent.subject_id, MatterConsent.matter_id)
        ).all()
        assert all(count == 1 for _subject, _matter, count in counts)

    @invariant()
    def the_upload_gate_matches_the_model(self) -> None:
        for person in PEOPLE:
            self.upload_attempt(person)


def test_consent_state_machine(engine: Engine) -> None:
    ConsentMachine.engine = engine
    run_state_machine_as_test(
        ConsentMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_every_stored_receipt_still_verifies_after_a_run(engine: Engine) -> None:
    """A deterministic walk through every rule once, then a re-check of all receipts at the end."""
    ConsentMachine.engine = engine
    machine: Any = ConsentMachine()
    try:
        machine.give(PEOPLE[0], release=True, voice=True)
        machine.withdraw(PEOPLE[0], {"release"}, everything=False)
        machine.publish_new_version()
        machine.upload_attempt(PEOPLE[0])
        machine.give(PEOPLE[0], release=False, voice=False)
        machine.withdraw(PEOPLE[0], set(), everything=True)
        machine.nothing_runs_for_a_withdrawn_purpose()
        assert len(machine.receipts) == 4
        assert all(machine.service.verify(r).valid for r in machine.receipts)
    finally:
        machine.teardown()
