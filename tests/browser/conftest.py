"""Fixtures for browser/evidence tests: the stub HTTP server and a shared BrowserManager."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.browser import BrowserManager
from bot.config import Settings
from tests.browser.stub_server import StubServer, running_stub


@pytest.fixture(scope="session")
def stub() -> Iterator[StubServer]:
    with running_stub() as server:
        yield server


@pytest.fixture(scope="module")
def manager_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("manager")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def manager(manager_dir: Path) -> AsyncIterator[BrowserManager]:
    """One Chromium for the module; tests use distinct account keys."""
    settings = Settings(data_dir=manager_dir, action_timeout_ms=1500, navigation_timeout_ms=1500)
    async with BrowserManager(settings) as mgr:
        yield mgr
