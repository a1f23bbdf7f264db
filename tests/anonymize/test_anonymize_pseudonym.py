"""Keyed per-release pseudonyms."""

from __future__ import annotations

import hashlib

import pytest

from anonymize import Pseudonymizer, new_release_key


def test_stable_within_a_release() -> None:
    key = new_release_key()
    assert Pseudonymizer(key).subject_id("c-1") == Pseudonymizer(key).subject_id("c-1")
    assert Pseudonymizer(key).subject_id("c-1") != Pseudonymizer(key).subject_id("c-2")


def test_two_releases_cannot_be_joined() -> None:
    first, second = Pseudonymizer(new_release_key()), Pseudonymizer(new_release_key())
    ids = [f"contributor-{n}" for n in range(200)]
    assert not {first.subject_id(i) for i in ids} & {second.subject_id(i) for i in ids}


def test_not_an_unkeyed_hash_of_the_id() -> None:
    pseudonym = Pseudonymizer(bytes(range(32))).subject_id("contributor-7")
    for digest in (hashlib.sha256, hashlib.sha512, hashlib.sha1, hashlib.md5):
        assert digest(b"contributor-7").hexdigest()[:26] not in pseudonym


def test_domains_are_separated_and_ids_are_safe() -> None:
    pseudonyms = Pseudonymizer(new_release_key())
    subject, item, receipt = pseudonyms.subject_id("x"), pseudonyms.item_id("x"), pseudonyms.receipt_ref("x")
    assert len({subject[2:], item[2:], receipt[2:]}) == 3
    assert subject.startswith("s-") and item.startswith("i-") and receipt.startswith("r-")
    assert subject[2:].isalnum() and len(subject) == 28


def test_weak_keys_and_empty_ids_are_refused() -> None:
    with pytest.raises(ValueError):
        Pseudonymizer(b"short")
    with pytest.raises(ValueError):
        Pseudonymizer(new_release_key()).subject_id("")
    assert "key" not in repr(Pseudonymizer(bytes(32))).replace("<key hidden>", "")
