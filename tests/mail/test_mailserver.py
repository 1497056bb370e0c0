"""The throwaway Dovecot itself: starts on free loopback ports, stops without leftovers."""

from __future__ import annotations

import imaplib
import time
from pathlib import Path

import pytest

from sandbox.mailserver import MailServer, MailServerError
from tests.fixtures.mail import deliver, make_message

pytestmark = pytest.mark.e2e


def _live(pid: int) -> bool:
    """True when `pid` is a running (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _wait_for_log(server: MailServer, text: str) -> str:
    """The log once it holds `text` (Dovecot's log process writes asynchronously); fails after 10 s."""
    deadline = time.monotonic() + 10
    while text not in (log := server.log_path.read_text()):
        assert time.monotonic() < deadline, f"{text!r} never reached the log"
        time.sleep(0.05)
    return log


def test_start_serves_imap_and_lmtp_then_stop_leaves_no_process(
    tmp_path: Path, mail_server: MailServer
) -> None:
    server = MailServer(tmp_path / "dc")
    server.add_user("a@example.test", "secret-a")
    with server:
        pids = server.pids
        assert len(pids) >= 3 and all(_live(pid) for pid in pids)
        assert {server.imap_port, server.lmtp_port}.isdisjoint({mail_server.imap_port, mail_server.lmtp_port})
        assert not str(server.base_dir).startswith("/run/dovecot")
        assert (tmp_path / "dc" / "dovecot.conf").is_file()
        assert (server.users_path / "a@example.test").stat().st_mode & 0o777 == 0o600
        deliver(server, "a@example.test", make_message("hello", "body", to="a@example.test"))
        imap = imaplib.IMAP4(server.host, server.imap_port)
        try:
            imap.login("a@example.test", "secret-a")
            status, data = imap.select("INBOX", readonly=True)
            assert status == "OK" and data[0] == b"1"
        finally:
            imap.logout()
        assert "saved mail to INBOX" in _wait_for_log(server, "saved mail to INBOX")
    assert not server.running
    assert [pid for pid in pids if _live(pid)] == []
    server.stop()  # a second stop is harmless


def test_passwords_never_reach_the_log(mail_server: MailServer) -> None:
    mail_server.add_user("logcheck@example.test", "do-not-log-me-42")
    imap = imaplib.IMAP4(mail_server.host, mail_server.imap_port)
    with pytest.raises(imaplib.IMAP4.error):
        imap.login("logcheck@example.test", "wrong-password-77")
    imap.logout()
    log = _wait_for_log(mail_server, "logcheck@example.test")
    assert "do-not-log-me-42" not in log and "wrong-password-77" not in log


def test_start_failure_raises_with_the_log_tail(tmp_path: Path) -> None:
    server = MailServer(tmp_path / "broken")
    server.add_user("b@example.test", "pw")
    original = server._config
    server._config = lambda: original() + "this is { not valid\n"  # type: ignore[method-assign]
    with pytest.raises(MailServerError) as info:
        server.start()
    assert "dovecot" in str(info.value).lower()
    assert not server.running
    server.stop()


def test_users_may_not_hold_separators(tmp_path: Path) -> None:
    server = MailServer(tmp_path / "u")
    with pytest.raises(MailServerError):
        server.add_user("x:y@example.test", "pw")
    with pytest.raises(MailServerError):
        server.add_user("../escape@example.test", "pw")
    with server:
        assert list(server.users_path.iterdir()) == []
