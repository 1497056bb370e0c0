"""Evidence tests reuse the stub HTTP server of the browser tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.stub_server import StubServer, running_stub


@pytest.fixture(scope="session")
def stub() -> Iterator[StubServer]:
    with running_stub() as server:
        yield server
