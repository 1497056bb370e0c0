"""BrowserManager against real Chromium and a local HTTP server."""

from __future__ import annotations

import asyncio
import json
import socket
import stat
import uuid
import zipfile
from pathlib import Path

import pytest

from bot.browser import KEPT_TRACE_PREFIX, BrowserManager
from bot.config import Settings
from bot.errors import ConfigError, PortalUnavailableError, SessionExpiredError
from bot.errors_playwright import playwright_errors, raise_for_status
from tests.browser.stub_server import StubServer

pytestmark = pytest.mark.e2e


def _key() -> str:
    return f"buyer-{uuid.uuid4().hex[:8]}@example.com"


async def test_storage_state_written_0600_and_reused(manager: BrowserManager, stub: StubServer) -> None:
    key = _key()
    token = uuid.uuid4().hex
    async with manager.session(key) as context:
        page = await context.new_page()
        await page.goto(f"{stub.base_url}/set-cookie?value={token}")

    path = manager.session_path(key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "/" not in path.name and "@" not in path.name
    state = json.loads(path.read_text())
    assert any(c["name"] == "sid" for c in state["cookies"])
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]

    async with manager.session(key) as context:
        page = await context.new_page()
        await page.goto(f"{stub.base_url}/whoami")
        assert f"sid={token}" in await page.locator("#cookies").inner_text()

    # another account does not see it
    async with manager.session(_key()) as context:
        page = await context.new_page()
        await page.goto(f"{stub.base_url}/whoami")
        assert token not in await page.locator("#cookies").inner_text()


async def test_trace_kept_only_when_body_raises(
    manager: BrowserManager, stub: StubServer, tmp_path: Path
) -> None:
    ok_dir, fail_dir = tmp_path / "ok", tmp_path / "fail"
    key = _key()
    async with manager.session(key, trace_dir=ok_dir) as context:
        page = await context.new_page()
        await page.goto(f"{stub.base_url}/page?title=fine")
    assert not ok_dir.exists() or not list(ok_dir.iterdir())

    with pytest.raises(RuntimeError, match="flow broke"):
        async with manager.session(key, trace_dir=fail_dir, secrets=["explicit-secret-5521"]) as context:
            page = await context.new_page()
            await page.goto(f"{stub.base_url}/login")
            await page.fill("#user", "buyer@example.com")
            await page.fill("#pw", "Hunter2-Password!")
            await page.fill("#code", "734911")
            await page.fill("#note", "mentions explicit-secret-5521 here")
            await page.click("button[type=submit]")
            await page.wait_for_selector("#welcome")
            raise RuntimeError("flow broke")

    traces = list(fail_dir.iterdir())
    assert [t.suffix for t in traces] == [".zip"], traces
    assert traces[0].name.startswith(KEPT_TRACE_PREFIX)
    assert stat.S_IMODE(traces[0].stat().st_mode) == 0o600
    with zipfile.ZipFile(traces[0]) as archive:
        names = archive.namelist()
        assert "trace.trace" in names
        blob = b"".join(archive.read(n) for n in names)
    assert b"#pw" in blob  # the trace still shows what was done
    for secret in (
        b"Hunter2-Password!",
        b"734911",
        b"after-login-cookie-77",
        b"explicit-secret-5521",
        b"preset-attr-secret",
    ):
        assert secret not in blob, secret
    # the storage state survived the (non-session) failure
    assert manager.session_path(key).exists()


async def test_session_error_forgets_stored_session(manager: BrowserManager, stub: StubServer) -> None:
    key = _key()
    async with manager.session(key) as context:
        page = await context.new_page()
        await page.goto(f"{stub.base_url}/set-cookie?value=x1")
    assert manager.session_path(key).exists()
    with pytest.raises(SessionExpiredError):
        async with manager.session(key):
            raise SessionExpiredError("bounced to login")
    assert not manager.session_path(key).exists()


async def test_corrupt_session_file_is_discarded(manager: BrowserManager, stub: StubServer) -> None:
    key = _key()
    path = manager.session_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    async with manager.session(key) as context:
        page = await context.new_page()
        await page.goto(f"{stub.base_url}/whoami")
        assert await page.locator("#cookies").inner_text() == ""
    assert json.loads(path.read_text())["cookies"] == []


async def test_locale_cookie_is_sent(manager: BrowserManager, stub: StubServer) -> None:
    cookie = {"name": "aep_usuc_f", "value": "b_locale=en_US", "url": stub.base_url}
    async with manager.session(_key(), locale_cookie=cookie) as context:
        page = await context.new_page()
        await page.goto(f"{stub.base_url}/whoami")
        assert "aep_usuc_f=b_locale=en_US" in await page.locator("#cookies").inner_text()


async def test_one_session_per_account_two_accounts_concurrently(manager: BrowserManager) -> None:
    same = _key()
    first_in, second_in, release_first = asyncio.Event(), asyncio.Event(), asyncio.Event()
    log: list[str] = []

    async def first() -> None:
        async with manager.session(same):
            log.append("first-in")
            first_in.set()
            await release_first.wait()
            log.append("first-out")

    async def second() -> None:
        await first_in.wait()
        async with manager.session(same):
            log.append("second-in")
            second_in.set()

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await asyncio.wait_for(first_in.wait(), 10)
    assert manager.is_busy(same)
    with pytest.raises(TimeoutError):  # blocked while the first session is open
        await asyncio.wait_for(asyncio.shield(second_in.wait()), 1.0)
    release_first.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 20)
    assert log == ["first-in", "first-out", "second-in"]

    # two different accounts are open at the same time
    a_in, b_in = asyncio.Event(), asyncio.Event()

    async def hold(key: str, mine: asyncio.Event, other: asyncio.Event) -> None:
        async with manager.session(key):
            mine.set()
            await other.wait()  # only returns if the other account is open at the same time

    await asyncio.wait_for(asyncio.gather(hold(_key(), a_in, b_in), hold(_key(), b_in, a_in)), 20)


async def test_default_timeouts_come_from_settings(manager: BrowserManager, stub: StubServer) -> None:
    async with manager.session(_key()) as context:
        page = await context.new_page()
        await page.goto(f"{stub.base_url}/page?title=t")
        with pytest.raises(PortalUnavailableError, match="1500ms") as info, playwright_errors("waiting"):
            await page.wait_for_selector("#never-there")
        assert info.value.context["timeout"] is True


async def test_playwright_errors_maps_refused_connection_and_timeout(
    manager: BrowserManager, stub: StubServer
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    async with manager.session(_key()) as context:
        page = await context.new_page()
        with pytest.raises(PortalUnavailableError) as refused, playwright_errors("opening orders"):
            await page.goto(f"http://127.0.0.1:{closed_port}/p/order/index.html")
        assert refused.value.context["net_error"] == "net::ERR_CONNECTION_REFUSED"
        assert "opening orders" in str(refused.value)

        with pytest.raises(PortalUnavailableError) as slow, playwright_errors("opening a slow page"):
            await page.goto(f"{stub.base_url}/slow")
        assert slow.value.context["timeout"] is True

        response = await page.goto(f"{stub.base_url}/error500")
        with pytest.raises(PortalUnavailableError, match="HTTP 500"):
            raise_for_status(response)
        ok = await page.goto(f"{stub.base_url}/page")
        assert raise_for_status(ok).status == 200


async def test_missing_browser_is_config_error(tmp_path: Path) -> None:
    manager = BrowserManager(Settings(data_dir=tmp_path, browser_path=tmp_path / "no-chromium"))
    with pytest.raises(ConfigError, match="Chromium not found"):
        await manager.start()
    await manager.close()


async def test_kept_trace_has_no_frame_while_a_secret_is_typed(
    manager: BrowserManager, stub: StubServer, tmp_path: Path
) -> None:
    """Issue 13, finding 3 (the scrubber's guard, without the login flow's field mask): the
    screencast frames recorded from the moment a code is typed are not kept; earlier ones are."""
    key = _key()
    with pytest.raises(RuntimeError, match="flow broke"):
        async with manager.session(key, trace_dir=tmp_path) as context:
            page = await context.new_page()
            await page.goto(f"{stub.base_url}/page?title=before-login")
            await page.wait_for_selector("h1")
            await page.goto(f"{stub.base_url}/login")
            await page.fill("#code", "734911")
            await page.fill("#note", "typed after the code")
            raise RuntimeError("flow broke")
    [trace] = await asyncio.to_thread(lambda: list(tmp_path.glob(f"{KEPT_TRACE_PREFIX}*.zip")))
    with zipfile.ZipFile(trace) as archive:
        events = [json.loads(line) for line in archive.read("trace.trace").decode().splitlines() if line]
        names = set(archive.namelist())
        frames = [e for e in events if e.get("type") == "screencast-frame"]
        typed = next(
            e["startTime"] for e in events if e.get("method") == "fill" and "#code" in str(e["params"])
        )
        assert all(e["file"] in names for e in frames)
        assert not [n for n in names if n.endswith(".jpeg") and n not in {e["file"] for e in frames}]
    assert frames, "every frame was dropped (the trace should still show the page before the login)"
    assert not [e["timestamp"] for e in frames if e["timestamp"] >= typed], "frames after the code was typed"


async def test_warm_context_is_reused_then_closed_when_idle(
    manager: BrowserManager, stub: StubServer
) -> None:
    key = _key()
    manager.warm_seconds = 60
    try:
        async with manager.session(key) as context:
            assert not manager.is_warm(context)
            page = await context.new_page()
            await page.goto(f"{stub.base_url}/set-cookie?value=warm")
        assert key in manager.warm_accounts
        async with manager.session(key) as again:
            assert again is context and manager.is_warm(again) and again.pages == [page]
        closed = asyncio.Event()
        context.on("close", lambda _: closed.set())
        manager.warm_seconds = 0.01  # parked once more, this time with a short idle time
        async with manager.session(key) as again:
            assert again is context
        async with asyncio.timeout(10):
            await closed.wait()
        assert key not in manager.warm_accounts
        async with manager.session(key) as fresh:
            assert fresh is not context and not manager.is_warm(fresh)
    finally:
        manager.warm_seconds = 0


async def test_warm_contexts_are_closed_with_the_browser(tmp_path: Path, stub: StubServer) -> None:
    settings = Settings(data_dir=tmp_path, action_timeout_ms=1500, navigation_timeout_ms=1500)
    browser = BrowserManager(settings, warm_seconds=60)
    closed: list[str] = []
    try:
        for key in ("a@example.com", "b@example.com"):
            async with browser.session(key) as context:
                await (await context.new_page()).goto(f"{stub.base_url}/page?title=x")
                context.on("close", lambda _, k=key: closed.append(k))  # type: ignore[misc]
        assert browser.warm_accounts == {"a@example.com", "b@example.com"}
    finally:
        await browser.close()
    assert browser.warm_accounts == set()
    assert sorted(closed) == ["a@example.com", "b@example.com"]


async def test_warm_contexts_are_capped_at_the_concurrency(manager: BrowserManager, stub: StubServer) -> None:
    """Each warm context holds a renderer: no more are kept than sessions can run at once."""
    keys = [_key() for _ in range(manager.settings.max_concurrency + 1)]
    manager.warm_seconds = 60
    try:
        for key in keys:
            async with manager.session(key) as context:
                await (await context.new_page()).goto(f"{stub.base_url}/page?title=x")
        assert manager.warm_accounts == set(keys[1:])  # the first parked was closed for the last
    finally:
        manager.warm_seconds = 0
        for key in keys:
            await manager._close_warm(key)
