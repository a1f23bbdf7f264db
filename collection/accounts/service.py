"""Account operations: self sign-up of contributors, staff creation, sign-in with throttling per account and
per IP. The service flushes; the caller commits (also after a failed sign-in, so failures are counted).

Every checked sign-in also goes into the tamper-evident audit log: `auth.signed_in`, or `auth.sign_in_failed` naming
the account by id, or an unknown address only by a keyed hash; no password, email address or IP enters the log.
A throttled attempt is refused before the password is checked and leaves neither an attempt row nor an event, so
unauthenticated traffic cannot grow the append-only log past the throttle's limits.

The email is sealed at rest, so accounts are found (and kept unique) by its blind index (`email_index`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collection.accounts.models import EMAIL_INDEX_PURPOSE, LoginAttempt, Role, User
from collection.audit.log import Actor, AuditLog
from collection.errors import EmailTaken, InvalidCredentials, LoginThrottled, NotFound, WeakPassword
from consent.clock import Clock
from consent.sealed import BlindIndex

MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True)
class SignupData:
    email: str
    password: str
    display_name: str
    birth_date: dt.date
    locale: str = "ko"


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int = 5
    lockout: dt.timedelta = dt.timedelta(minutes=15)
    ip_max_failures: int = 20


_DUMMY_HASHES: dict[tuple[int, int, int], str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if key not in _DUMMY_HASHES:
        _DUMMY_HASHES[key] = hasher.hash("datadam-timing-equaliser")
    return _DUMMY_HASHES[key]


def normalize_email(email: str) -> str:
    return email.strip().lower()


def email_blind_index(master_key: bytes) -> BlindIndex:
    """The blind index of account emails, keyed by a key derived from the master key."""
    return BlindIndex.from_master_key(master_key, EMAIL_INDEX_PURPOSE)


def audit_actor(user: User) -> Actor:
    """The account as an audit actor: staff by row id, contributors by their opaque subject id (as everywhere)."""
    if user.role is Role.CONTRIBUTOR:
        return Actor(user.subject_id, user.role.value)
    return Actor(user.id, user.role.value)


ANONYMOUS = Actor(None, "anonymous")


class AccountService:
    def __init__(
        self,
        session: Session,
        clock: Clock,
        ip_key: bytes,
        policy: ThrottlePolicy | None = None,
        hasher: PasswordHasher | None = None,
        audit: AuditLog | None = None,
        *,
        email_index: BlindIndex,
    ) -> None:
        self.session = session
        self._email_index = email_index
        self.clock = clock
        self._ip_key = ip_key
        self.policy = policy or ThrottlePolicy()
        self._hasher = hasher or PasswordHasher()
        self.audit = audit or AuditLog(session, clock)

    # -- creation ---------------------------------------------------------------------------------------------
    def sign_up(self, data: SignupData) -> User:
        """Create a contributor account. Raises EmailTaken, WeakPassword."""
        return self._create(
            data.email, data.password, Role.CONTRIBUTOR, data.display_name, data.birth_date, data.locale
        )

    def create_staff(self, email: str, password: str, role: Role, display_name: str, locale: str = "ko") -> User:
        """Create an operator, compliance officer or admin. Raises EmailTaken, WeakPassword, ValueError."""
        if not role.is_staff:
            raise ValueError("staff accounts need a staff role")
        return self._create(email, password, role, display_name, None, locale)

    def _create(self, email: str, password: str, role: Role, name: str, birth: dt.date | None, locale: str) -> User:
        email = normalize_email(email)
        if len(password) < MIN_PASSWORD_LENGTH:
            raise WeakPassword(MIN_PASSWORD_LENGTH)
        if self.find_by_email(email) is not None:
            raise EmailTaken()
        user = User(
            email=email,
            email_index=self._email_index.digest(email),
            password_hash=self._hasher.hash(password),
            role=role,
            display_name=name,
            birth_date=birth,
            locale=locale,
            created_at=self.clock.now(),
        )
        self.session.add(user)
        self.session.flush()
        return user

    # -- lookup -----------------------------------------------------------------------------------------------
    def find_by_email(self, email: str) -> User | None:
        digest = self._email_index.digest(normalize_email(email))
        return self.session.scalar(select(User).where(User.email_index == digest))

    def get(self, user_id: str) -> User:
        user = self.session.get(User, user_id)
        if user is None:
            raise NotFound("user", user_id)
        return user

    def list_users(self, role: Role | None = None) -> list[User]:
        q = select(User).where(User.erased_at.is_(None)).order_by(User.created_at)
        if role is not None:
            q = q.where(User.role == role)
        return list(self.session.scalars(q))

    # -- sign-in ----------------------------------------------------------------------------------------------
    def hash_ip(self, ip: str) -> str:
        return hmac.new(self._ip_key, ip.encode(), hashlib.sha256).hexdigest()

    def hash_email(self, email: str) -> str:
        """Keyed hash of a normalised address (domain-separated from IP hashes): links attempts, reveals nothing."""
        return hmac.new(self._ip_key, b"email\x00" + normalize_email(email).encode(), hashlib.sha256).hexdigest()

    def authenticate(self, email: str, password: str, ip: str) -> User:
        """Check credentials. Raises LoginThrottled (before checking the password), InvalidCredentials."""
        ip_hash = self.hash_ip(ip)
        user = self.find_by_email(email)
        self._check_throttle(user, ip_hash)
        if user is None or not user.active or user.password_hash is None:
            # Verify against a dummy hash of the same cost, so timing does not reveal which emails exist.
            self._verify(_dummy_hash(self._hasher), password)
            self._audit_failure(user, email, "unknown_account" if user is None else "account_disabled")
            self._record(None if user is None else user.id, ip_hash, False)
            raise InvalidCredentials()
        if not self._verify(user.password_hash, password):
            self._audit_failure(user, email, "wrong_password")
            self._record(user.id, ip_hash, False)
            raise InvalidCredentials()
        if self._hasher.check_needs_rehash(user.password_hash):
            user.password_hash = self._hasher.hash(password)
        user.last_login_at = self.clock.now()
        self.audit.record(audit_actor(user), "auth.signed_in", "user", user.id)
        self._record(user.id, ip_hash, True)  # flushes the event with the attempt
        return user

    def _audit_failure(self, user: User | None, email: str, reason: str) -> None:
        # Whoever typed the password is unknown, so the actor is anonymous; the account is the object.
        if user is None:
            self.audit.record(
                ANONYMOUS, "auth.sign_in_failed", "user", None, reason=reason, email_hash=self.hash_email(email)
            )
        else:
            self.audit.record(ANONYMOUS, "auth.sign_in_failed", "user", user.id, reason=reason)

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self._hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    def _record(self, user_id: str | None, ip_hash: str, ok: bool) -> None:
        self.session.add(LoginAttempt(user_id=user_id, ip_hash=ip_hash, succeeded=ok, at=self.clock.now()))
        self.session.flush()

    def _check_throttle(self, user: User | None, ip_hash: str) -> None:
        now = self.clock.now()
        since = now - self.policy.lockout
        if user is not None:
            self._check_scope(LoginAttempt.user_id == user.id, self.policy.max_failures, since, now, "account")
        self._check_scope(LoginAttempt.ip_hash == ip_hash, self.policy.ip_max_failures, since, now, "network")

    def _check_scope(self, where, limit: int, since: dt.datetime, now: dt.datetime, scope: str) -> None:  # noqa: ANN001
        """Count failures since the last success inside the window; at the limit, lock until the window ends."""
        last_ok = self.session.scalar(
            select(func.max(LoginAttempt.at)).where(where, LoginAttempt.succeeded.is_(True), LoginAttempt.at >= since)
        )
        start = max(since, last_ok) if last_ok else since
        rows = self.session.execute(
            select(func.count(), func.min(LoginAttempt.at), func.max(LoginAttempt.at)).where(
                where,
                LoginAttempt.succeeded.is_(False),
                LoginAttempt.at > start if last_ok else LoginAttempt.at >= start,
            )
        ).one()
        count, _first, last = rows
        if count >= limit and last is not None:
            raise LoginThrottled(last + self.policy.lockout - now, scope)

    def change_locale(self, user: User, locale: str) -> None:
        if locale not in ("ko", "en"):
            raise ValueError("locale must be ko or en")
        user.locale = locale
        self.session.flush()
