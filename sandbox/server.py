"""Starts and stops a sandbox portal on uvicorn in a background thread.

`start_sandbox(settings, scenario_path)` returns once the port answers; it raises RuntimeError if
uvicorn does not come up within 15 s. `RunningSandbox.stop()` shuts uvicorn down and delivers the
mails still queued.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from sandbox.admin_client import SandboxAdmin
from sandbox.app import build_app
from sandbox.portal import Portal
from sandbox.scenario import Scenario, load_scenario
from sandbox.settings import SandboxSettings


@dataclass
class RunningSandbox:
    """A portal serving on `url` until `stop()`."""

    url: str
    token: str
    scenario: Scenario
    settings: SandboxSettings
    portal: Portal
    admin: SandboxAdmin
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def login_base(self) -> str:
        return self.url + "/login"

    def stop(self) -> None:
        """Stop serving (idempotent); queued mails are delivered first."""
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self.admin.close()
        self.portal.mailer.close()

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def merged_settings(settings: SandboxSettings | None, scenario: Scenario) -> SandboxSettings:
    """Scenario `settings:` as defaults, the caller's explicitly set fields on top."""
    given = settings.model_dump(exclude_unset=True) if settings else {}
    return SandboxSettings.model_validate({**scenario.settings, **given})


def start_sandbox(
    settings: SandboxSettings | None = None, scenario_path: str | Path = "test"
) -> RunningSandbox:
    """Load the scenario, build the portal and serve it on a free (or the given) port."""
    scenario = load_scenario(scenario_path)
    s = merged_settings(settings, scenario)
    token = s.admin_token or secrets.token_urlsafe(18)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((s.host, s.port))
    host, port = sock.getsockname()[:2]
    url = f"http://{host}:{port}"
    portal = Portal(s, scenario, token, url)
    app = build_app(portal)
    config = uvicorn.Config(
        app, log_level=s.log_level, access_log=False, lifespan="off", timeout_graceful_shutdown=3
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"sandbox-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"sandbox portal did not start on {url}")
        time.sleep(0.02)
    return RunningSandbox(
        url=url,
        token=token,
        scenario=scenario,
        settings=s,
        portal=portal,
        admin=SandboxAdmin(url, token),
        _server=server,
        _thread=thread,
    )
