"""Mail: the IMAP boundary, safe message parsing, the UID cursor and emailed verification codes.

imap.MailboxClient     read-only IMAP (EXAMINE + BODY.PEEK[]), typed errors, async wrappers
message.parse_message  one raw mail -> MailMessage (never raises on hostile mail)
sender.read_from       the sender, read strictly (one RFC 5322 mailbox); Authentication-Results
effects.effects_for    a mail is a doorbell: it requests status checks, the page decides
cursor.plan_fetch      (mailbox, UIDVALIDITY, last UID) logic, RFC 3501 / RFC 4549
codes.ImapCodeSource   wait for the newest verification code mailed after a moment
"""

from bot.mail.codes import ImapCodeSource
from bot.mail.cursor import FetchPlan, MailCursor, PlanReason, advance, plan_fetch
from bot.mail.imap import FetchedMail, MailboxClient, MailboxState
from bot.mail.message import MailMessage, parse_message

__all__ = [
    "FetchPlan",
    "FetchedMail",
    "ImapCodeSource",
    "MailCursor",
    "MailMessage",
    "MailboxClient",
    "MailboxState",
    "PlanReason",
    "advance",
    "parse_message",
    "plan_fetch",
]
