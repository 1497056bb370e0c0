"""The demo's sandbox: `python -m sandbox` (portal + throwaway Dovecot) as a child process.

A separate process keeps the portal's request handling off the bot's interpreter (the demo
runs on two cores). :class:`SandboxProcess` starts it with a fresh admin token, reads the
portal URL and the IMAP port from its banner, and stops it with SIGTERM (the sandbox then stops
Dovecot and removes its mail folder); a child that does not stop in time is killed. The
scenario's accounts and orders are read from the same deterministic scenario file.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from sandbox import scenario as _scenario_module
from sandbox.admin_client import SandboxAdmin
from sandbox.scenario import Scenario, load_scenario

SCENARIOS = Path(_scenario_module.__file__).resolve().parent / "scenarios"
"""The sandbox's bundled scenario files."""

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
POLL_S = 0.1
"""How often the log is read for the banner while waiting (or until the child exits)."""
_PORTAL = re.compile(r"Sandbox portal:\s+(http://[0-9.]+:\d+)/")
_IMAP = re.compile(r"IMAP:\s+([0-9.]+):(\d+)")


class SandboxProcess:
    """`python -m sandbox --scenario NAME` until :meth:`stop` (or the end of a `with`)."""

    def __init__(self, scenario: str = "demo") -> None:
        # The child's output (its banner lists the sandbox logins) goes to a private temp file,
        # never into the data folder; it is removed when the sandbox stops.
        handle, name = tempfile.mkstemp(prefix="recoup-sandbox-", suffix=".log")
        os.close(handle)
        self.log_path = Path(name)
        # A full path: a bare name could resolve against a folder of that name in the cwd.
        self.scenario_path = SCENARIOS / f"{scenario}.yaml"
        self.scenario: Scenario = load_scenario(self.scenario_path)
        self.token = secrets.token_urlsafe(18)
        self.url = ""
        self.imap_host = ""
        self.imap_port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._admin: SandboxAdmin | None = None

    @property
    def admin(self) -> SandboxAdmin:
        """Admin API client (clock, state, submissions)."""
        if self._admin is None:
            raise RuntimeError("the sandbox is not running")
        return self._admin

    def start(self) -> SandboxProcess:
        """Start the child and wait for its banner. RuntimeError (with the log tail) when it does
        not come up within START_TIMEOUT_S."""
        cmd = [sys.executable, "-m", "sandbox", "--scenario", str(self.scenario_path), "--token", self.token]
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:  # the child writes here: a pipe nobody reads could fill up
            self._proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        seen = b""
        deadline = time.monotonic() + START_TIMEOUT_S
        while b"Ctrl-C stops" not in seen:
            if time.monotonic() > deadline or self._proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"the sandbox did not start:\n{_tail(seen)}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=POLL_S)  # wakes at once if the child dies
            with self.log_path.open("rb") as log_in:
                log_in.seek(offset)
                seen = log_in.read()
        text = seen.decode(errors="replace")
        portal, imap = _PORTAL.search(text), _IMAP.search(text)
        if portal is None or imap is None:
            self.stop()
            raise RuntimeError(f"unexpected sandbox banner:\n{_tail(seen)}")
        self.url = portal.group(1)
        self.imap_host, self.imap_port = imap.group(1), int(imap.group(2))
        self._admin = SandboxAdmin(self.url, self.token)
        return self

    def stop(self) -> None:
        """SIGTERM the child and wait (kill it after STOP_TIMEOUT_S). Safe to call twice."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _tail(output: bytes) -> str:
    """The end of the child's output without its list of logins and its secret exports (they
    name passwords)."""
    lines = output.decode(errors="replace").splitlines()
    return "\n".join(line for line in lines[-15:] if "@" not in line and "RECOUP_SECRET_" not in line)
