"""Accounts: names, addresses and secret *references* (never secret values)."""

from __future__ import annotations

from sqlalchemy import delete, exc, func, select

from bot.errors import InputError, UnknownAccountError
from bot.models import Account
from bot.store._base import RepoBase
from bot.store._tables import AccountRow, CaseRow, MailCursorRow, ProcessedMessageRow


def _account(row: AccountRow) -> Account:
    return Account(
        id=row.id,
        name=row.name,
        email=row.email,
        mailbox_user=row.mailbox_user,
        locale=row.locale,
        portal=row.portal,
        password_ref=row.password_ref,
        totp_ref=row.totp_ref,
        mailbox_password_ref=row.mailbox_password_ref,
    )


class AccountRepository(RepoBase):
    """Add and look up accounts."""

    def add(self, account: Account) -> Account:
        """Store a new account (its refs were validated by the model). Raises InputError when
        the name is taken."""
        now = self._now()
        try:
            with self._tx("adding an account") as session:
                row = AccountRow(
                    name=account.name,
                    email=account.email,
                    mailbox_user=account.mailbox_user,
                    locale=account.locale,
                    portal=account.portal,
                    password_ref=account.password_ref,
                    totp_ref=account.totp_ref,
                    mailbox_password_ref=account.mailbox_password_ref,
                    created_at=now,
                )
                session.add(row)
                session.flush()
                return _account(row)
        except InputError as error:
            if isinstance(error.__cause__, exc.IntegrityError):
                raise InputError(f"an account named {account.name!r} exists already") from error
            raise

    def get(self, name: str) -> Account:
        """The account called `name`. Raises UnknownAccountError."""
        with self._tx("reading an account") as session:
            row = session.execute(select(AccountRow).where(AccountRow.name == name)).scalar_one_or_none()
            if row is None:
                raise UnknownAccountError(f"no account named {name!r}", account=name)
            return _account(row)

    def list_accounts(self) -> list[Account]:
        """All accounts by name."""
        with self._tx("listing accounts") as session:
            return [
                _account(r) for r in session.execute(select(AccountRow).order_by(AccountRow.name)).scalars()
            ]

    def remove(self, name: str) -> Account:
        """Delete the account `name` and its mail poller state; return what was removed.

        Raises UnknownAccountError, and InputError when the account still has cases (their
        history is evidence: the account stays; nothing is deleted then).
        """
        with self._tx("removing an account") as session:
            row = session.execute(select(AccountRow).where(AccountRow.name == name)).scalar_one_or_none()
            if row is None:
                raise UnknownAccountError(f"no account named {name!r}", account=name)
            cases = session.execute(
                select(func.count()).select_from(CaseRow).where(CaseRow.account_id == row.id)
            ).scalar_one()
            if cases:
                raise InputError(
                    f"account {name!r} has {cases} case(s); their history is kept, so it cannot be removed",
                    account=name,
                )
            removed = _account(row)
            session.execute(delete(ProcessedMessageRow).where(ProcessedMessageRow.account_id == row.id))
            session.execute(delete(MailCursorRow).where(MailCursorRow.account_id == row.id))
            session.delete(row)
            return removed
