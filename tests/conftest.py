"""Shared test set-up.

Fixtures live in `tests/fixtures/` (one module per real part: sandbox portal, Dovecot, database)
and are registered here. Browser tests use pytest-playwright-asyncio's async `browser`/`page`
fixtures on Debian's Chromium; traces and screenshots are kept for failed tests in
`test-results/`.

Tests that start Chromium, the sandbox portal or Dovecot carry the `e2e` marker, given here by
directory (and by fixture, for the few elsewhere), so `pytest -m "not e2e"` is the quick run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import CHROMIUM_ARGS

pytest_plugins: list[str] = []
for _name in ("sandbox", "mail", "database"):
    if (Path(__file__).parent / "fixtures" / f"{_name}.py").exists():
        pytest_plugins.append(f"tests.fixtures.{_name}")


E2E_DIRS = ("e2e", "crash", "engine", "cli", "flows", "sandbox", "browser", "benchmarks")
"""Directories under tests/ whose tests launch Chromium, the sandbox or Dovecot (or the CLI that does)."""

E2E_FIXTURES = frozenset(
    {"browser", "context", "page", "mail_server", "mailbox", "sandbox", "sandbox_b", "fresh_sandbox"}
)
"""Fixtures that start one of those; a test using any of them is `e2e` wherever it lives."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every slow test `e2e`: by directory, else by the fixtures it uses."""
    root = Path(__file__).parent
    for item in items:
        try:
            top = item.path.relative_to(root).parts[0]
        except ValueError:
            continue
        if top in E2E_DIRS or E2E_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch Debian's Chromium (never a downloaded build) with the flags of a closed network."""
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": list(CHROMIUM_ARGS),
        "headless": True,
    }


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Each test gets its own data folder and no `.env` or `RECOUP_*` leaking in from outside."""
    import os

    for key in list(os.environ):
        if key.startswith("RECOUP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("RECOUP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    yield
