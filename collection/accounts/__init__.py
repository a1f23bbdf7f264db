"""Accounts: people who use datadam (contributors and staff), their roles, passwords and sign-in throttling."""

from collection.accounts.models import LoginAttempt, Role, User
from collection.accounts.service import AccountService, Clock, SignupData, email_blind_index

__all__ = ["AccountService", "Clock", "LoginAttempt", "Role", "SignupData", "User", "email_blind_index"]
