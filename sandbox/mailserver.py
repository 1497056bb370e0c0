"""A throwaway Dovecot for tests and the demo: IMAP + LMTP on free loopback ports.

Everything lives under one `root` folder::

    root/dovecot.conf     generated config (never /etc/dovecot)
    root/users/<email>    one passwd-file per user (mode 0600): `email:{PLAIN}password:uid:gid::home`
    root/dovecot.log      every Dovecot log line (read by MailServerError on failure)
    root/run/             base_dir: sockets, master.pid (never /run/dovecot)
    root/state/           state_dir (never /var/lib/dovecot)
    root/mail/<email>/    each user's home; maildir under `Maildir/`

The master runs as root in the foreground (`dovecot -F`, a child of this process) and drops
to Dovecot's own unprivileged users: login processes as `dovenull`, auth as `dovecot`, mail
processes (imap, lmtp) as `dovecot`, which owns the mail folder. Plain-text auth is allowed
because it only listens on 127.0.0.1 (`ssl = no`).

Dovecot's unprivileged processes must be able to walk down to the sockets, the passwd-file and
the mail. When an ancestor of `root` is closed to others (pytest's `/tmp/pytest-of-root` is
0700), or `root` is too deep for unix socket paths, `run/`, `state/`, `mail/` and `users` go to a
private folder under the system temp dir instead (`root/work` links to it) and `stop()` removes
it (mail kept there does not outlive a stop). Several instances can run at once.

`stop()` ends the master and every child; a child that exits after its master is reparented to
pid 1 and may linger as a zombie (exited, holding nothing) when pid 1 does not reap.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
MAIL_USER = "dovecot"
"""The unprivileged system user that owns the mail and runs imap/lmtp processes."""

_START_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 10.0
_MAX_SOCKET_DIR = 70
"""Unix socket paths are limited to 108 bytes; base_dir longer than this moves to /tmp."""


class MailServerError(RuntimeError):
    """Dovecot could not be configured, started or stopped. The message carries the log tail."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(host: str, port: int, greeting: bytes) -> bool:
    """True when a TCP server on host:port sends a greeting starting with `greeting`."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.settimeout(2.0)
            return sock.recv(64).startswith(greeting)
    except OSError:
        return False


def _traversable_by_others(path: Path) -> bool:
    """True when every ancestor of `path` lets other users pass (o+x)."""
    return all(os.stat(parent).st_mode & 0o001 for parent in path.resolve().parents)


def _children_of(pid: int) -> set[int]:
    """All live descendants of `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name is in parentheses and may hold spaces: split after the last ')'
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class MailServer:
    """A throwaway Dovecot: IMAP + LMTP on free loopback ports, config and mail under `root`.

    `start()` returns once both ports answer or raises :class:`MailServerError` with the log
    tail; `stop()` ends the master and every child it had, and is safe to call twice.
    """

    host: str = "127.0.0.1"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.imap_port = 0
        self.lmtp_port = 0
        self._users: dict[str, str] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._children: set[int] = set()
        self._scratch: list[Path] = []
        pw = pwd.getpwnam(MAIL_USER)
        self._uid, self._gid = pw.pw_uid, pw.pw_gid
        self.log_path = self.root / "dovecot.log"
        self.config_path = self.root / "dovecot.conf"
        # where things go when `root` itself is usable; start() may move them (see module doc)
        self.base_dir = self.root / "run"
        self.state_dir = self.root / "state"
        self.mail_dir = self.root / "mail"
        self.users_path = self.root / "users"
        self._prepared = False

    def _prepare(self) -> None:
        """Pick the work folder and create the mail folder owned by the mail user."""
        work = self._work_dir()
        self.base_dir = work / "run"
        self.state_dir = work / "state"
        self.mail_dir = work / "mail"
        self.users_path = work / "users"
        for folder in (self.users_path, self.mail_dir):
            folder.mkdir(exist_ok=True)
            os.chown(folder, self._uid, self._gid)
            folder.chmod(0o700)
        for email in self._users:
            self._write_user(email)
        os.chown(self.mail_dir, self._uid, self._gid)
        self.mail_dir.chmod(0o700)
        self._prepared = True

    # ---- public API ---------------------------------------------------------------------------
    def add_user(self, email: str, password: str) -> None:
        """Add (or replace) a mailbox user, also while running. A new user can log in at once
        (each user has its own passwd-file, so no cached file hides it); Dovecot re-reads a
        changed password at most once a second."""
        email = email.lower()
        if ":" in email + password or "\n" in email + password or "/" in email or email.startswith("."):
            raise MailServerError("user names may not hold ':', '/' or newlines; passwords no ':'")
        self._users[email] = password
        if self._prepared:
            self._write_user(email)

    def start(self) -> None:
        """Start Dovecot and wait (bounded) until IMAP and LMTP both answer."""
        if self._proc is not None:
            return
        if not self._prepared:
            self._prepare()
        last_error: MailServerError | None = None
        for _ in range(3):  # a free port can be taken between probing and binding: retry
            self.imap_port, self.lmtp_port = _free_port(), _free_port()
            while self.lmtp_port == self.imap_port:
                self.lmtp_port = _free_port()
            try:
                self._start_once()
                atexit.register(self.stop)  # a crashed test run must not leave Dovecot behind
                return
            except MailServerError as exc:
                last_error = exc
                self._terminate()
                if "Address already in use" not in str(exc):
                    break
        assert last_error is not None
        self.stop()  # no process and no private temp folder stay behind a failed start
        raise last_error

    def stop(self) -> None:
        """Stop the master, make sure no child survives, remove the private temp folder (if one
        was needed: its mail is then gone; mail kept directly under `root` stays)."""
        atexit.unregister(self.stop)
        self._terminate()
        if self._scratch:
            for path in self._scratch:
                shutil.rmtree(path, ignore_errors=True)
            self._scratch.clear()
            self._prepared = False

    @property
    def running(self) -> bool:
        """True while the master process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pids(self) -> set[int]:
        """The master's pid and every live child of it (empty when stopped)."""
        if self._proc is None:
            return set()
        return {self._proc.pid, *_children_of(self._proc.pid)}

    def maildir(self, email: str) -> Path:
        """The user's maildir (exists after the first delivery or login)."""
        return self.mail_dir / email.lower() / "Maildir"

    def doveadm(self, *args: str) -> str:
        """Run `doveadm <args>` against this instance (e.g. `mailbox update --uid-validity`)."""
        result = subprocess.run(
            [DOVEADM, "-c", str(self.config_path), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise MailServerError(f"doveadm {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of Dovecot's log (empty when there is none yet)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> MailServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- internals ----------------------------------------------------------------------------
    def _work_dir(self) -> Path:
        """`root`, or a private temp folder when Dovecot's users could not reach into `root`."""
        self.root.chmod(self.root.stat().st_mode | 0o011)  # pass-through only, no listing
        if _traversable_by_others(self.root / "x") and len(str(self.root)) <= _MAX_SOCKET_DIR:
            return self.root
        work = Path(tempfile.mkdtemp(prefix="recoup-dovecot-"))
        work.chmod(0o711)
        self._scratch.append(work)
        link = self.root / "work"
        if link.is_symlink():
            link.unlink()
        link.symlink_to(work)
        return work

    def _write_user(self, email: str) -> None:
        line = f"{email}:{{PLAIN}}{self._users[email]}:{self._uid}:{self._gid}::{self.mail_dir / email}::\n"
        target = self.users_path / email
        tmp = self.users_path / f".{email}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(line)
        os.chown(tmp, self._uid, self._gid)  # read by the auth process, which runs as `dovecot`
        os.replace(tmp, target)

    def _config(self) -> str:
        name = f"recoup-{secrets.token_hex(4)}"
        return f"""\
# generated by sandbox/mailserver.py: a throwaway instance, never the system one
instance_name = {name}
base_dir = {self.base_dir}
state_dir = {self.state_dir}
protocols = imap lmtp
listen = {self.host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {self.log_path}
info_log_path = {self.log_path}
debug_log_path = {self.log_path}
hostname = localhost
postmaster_address = postmaster@localhost
first_valid_uid = {self._uid}
last_valid_uid = {self._uid}
first_valid_gid = {self._gid}
mail_location = maildir:~/Maildir
mail_uid = {self._uid}
mail_gid = {self._gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {self.users_path}/%Lu
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {self.users_path}/%Lu
}}
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
# tests fail logins from 127.0.0.1 on purpose: no growing per-IP penalty (the 2 s delay stays)
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {self.host}
    port = {self.lmtp_port}
  }}
}}
"""

    def _start_once(self) -> None:
        for folder in (self.base_dir, self.state_dir):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o755)
        self.config_path.write_text(self._config())
        with contextlib.suppress(FileNotFoundError):
            self.log_path.unlink()
        self.log_path.touch()
        self._proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log_path, "ab"),  # noqa: SIM115 - the child owns it once started
            start_new_session=True,
        )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise MailServerError(f"dovecot exited with {self._proc.returncode}:\n{self.log_tail()}")
            if _answers(self.host, self.imap_port, b"* OK") and _answers(self.host, self.lmtp_port, b"220"):
                return
            time.sleep(0.05)
        raise MailServerError(f"dovecot did not answer within {_START_TIMEOUT_S}s:\n{self.log_tail()}")

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        children = _children_of(proc.pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=_STOP_TIMEOUT_S)
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        while (left := {pid for pid in children if _alive(pid)}) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in left:  # a child that outlived its master: nothing of ours may stay behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
