"""Mail poller state: per-mailbox cursors and the set of messages already handled.

The intended loop (built in `bot/mail/`): read the cursor; if the server's UIDVALIDITY differs,
start over from UID 0; for each new message, skip it if :meth:`MailStateRepository.is_processed`,
else act on it and :meth:`~MailStateRepository.mark_processed`; finally
:meth:`~MailStateRepository.save_cursor`. A crash in between re-reads a few messages, which
`mark_processed` (unique per mailbox + message key) turns into no-ops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exc, select

from bot.errors import InputError
from bot.store._base import RepoBase
from bot.store._tables import MailCursorRow, ProcessedMessageRow


@dataclass(frozen=True)
class SavedMailCursor:
    """How far one mailbox has been read, as saved; the poller plans its fetch with a
    :class:`bot.mail.cursor.MailCursor` built from it."""

    account_id: int
    mailbox: str
    uidvalidity: int
    last_uid: int
    updated_at: datetime


def _cursor(row: MailCursorRow) -> SavedMailCursor:
    return SavedMailCursor(row.account_id, row.mailbox, row.uidvalidity, row.last_uid, row.updated_at)


class MailStateRepository(RepoBase):
    """Cursors and processed-message keys for the mail poller."""

    def get_cursor(self, account_id: int, mailbox: str) -> SavedMailCursor | None:
        """The saved cursor of `mailbox`, or None if it was never read."""
        with self._tx("reading a mail cursor") as session:
            row = session.execute(
                select(MailCursorRow).where(
                    MailCursorRow.account_id == account_id, MailCursorRow.mailbox == mailbox
                )
            ).scalar_one_or_none()
            return None if row is None else _cursor(row)

    def save_cursor(
        self, account_id: int, mailbox: str, *, uidvalidity: int, last_uid: int
    ) -> SavedMailCursor:
        """Store the cursor. With an unchanged UIDVALIDITY it never moves backwards; a new
        UIDVALIDITY replaces the cursor (the mailbox was rebuilt, UIDs start over)."""
        now = self._now()
        with self._tx("saving a mail cursor") as session:
            query = select(MailCursorRow).where(
                MailCursorRow.account_id == account_id, MailCursorRow.mailbox == mailbox
            )
            if self._postgres:
                query = query.with_for_update()
            row = session.execute(query).scalar_one_or_none()
            if row is None:
                row = MailCursorRow(
                    account_id=account_id,
                    mailbox=mailbox,
                    uidvalidity=uidvalidity,
                    last_uid=last_uid,
                    updated_at=now,
                )
                session.add(row)
            elif row.uidvalidity != uidvalidity:
                row.uidvalidity, row.last_uid, row.updated_at = uidvalidity, last_uid, now
            else:
                row.last_uid, row.updated_at = max(row.last_uid, last_uid), now
            session.flush()
            return _cursor(row)

    def is_processed(self, account_id: int, mailbox: str, message_key: str) -> bool:
        """True when the message was marked processed before."""
        with self._tx("checking a processed message") as session:
            found = session.execute(
                select(ProcessedMessageRow.id).where(
                    ProcessedMessageRow.account_id == account_id,
                    ProcessedMessageRow.mailbox == mailbox,
                    ProcessedMessageRow.message_key == message_key,
                )
            ).scalar_one_or_none()
            return found is not None

    def mark_processed(
        self,
        account_id: int,
        mailbox: str,
        message_key: str,
        *,
        case_id: int | None = None,
        classification: str | None = None,
    ) -> bool:
        """Remember the message (key: Message-ID, else `uidvalidity:uid`). Returns False, writing
        nothing, when it was already processed — the caller must then not act on it again."""
        now = self._now()
        try:
            with self._tx("marking a message processed") as session:
                session.add(
                    ProcessedMessageRow(
                        account_id=account_id,
                        mailbox=mailbox,
                        message_key=message_key,
                        case_id=case_id,
                        classification=classification,
                        processed_at=now,
                    )
                )
                session.flush()
                return True
        except InputError as error:
            if isinstance(error.__cause__, exc.IntegrityError) and self.is_processed(
                account_id, mailbox, message_key
            ):
                return False
            raise
