"""Error conversion at the Playwright boundary: Playwright's errors and bad answers become
:mod:`bot.errors` types.

Both the browser manager (:mod:`bot.browser`) and the flows (`flows/`) use these helpers around
their page actions. This module imports only Playwright and :mod:`bot.errors`, so flows reach the
conversion without importing the browser manager (arrows one way: flows → bot.errors_playwright
→ bot.errors).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Response
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from bot.errors import PortalUnavailableError, RecoupError

_NET_ERROR = re.compile(r"net::ERR_[A-Z_]+")


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (at most 300 characters), or its type name when the
    message is empty. Playwright's later lines are a call log that can quote typed text."""
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


@contextlib.contextmanager
def playwright_errors(doing: str = "talking to the portal") -> Iterator[None]:
    """Convert Playwright errors raised inside into :mod:`bot.errors` types, once.

    Timeouts, `net::ERR_*` navigation failures, a closed page/browser and every other Playwright
    error become PortalUnavailableError (context: `doing`, `net_error`, `timeout`). Recoup's own
    errors pass through untouched. Only the first line of Playwright's message is kept (its call
    log can quote typed text).
    """
    try:
        yield
    except RecoupError:
        raise
    except PlaywrightTimeoutError as exc:
        raise PortalUnavailableError(
            f"timed out {doing}: {first_line(exc)}", doing=doing, timeout=True
        ) from exc
    except PlaywrightError as exc:
        line = first_line(exc)
        net = _NET_ERROR.search(str(exc))
        if net:
            raise PortalUnavailableError(
                f"portal unreachable while {doing}: {net.group(0)}", doing=doing, net_error=net.group(0)
            ) from exc
        raise PortalUnavailableError(f"browser error while {doing}: {line}", doing=doing) from exc


def raise_for_status(response: Response | None, doing: str = "loading a page") -> Response:
    """Return `response` if it is a usable answer; a missing answer or a 5xx (also 429) raises
    PortalUnavailableError with the status and URL."""
    if response is None:
        raise PortalUnavailableError(f"no response while {doing}", doing=doing)
    if response.status >= 500 or response.status == 429:
        raise PortalUnavailableError(
            f"portal answered HTTP {response.status} while {doing}",
            doing=doing,
            status=response.status,
            url=response.url.split("?", 1)[0],
        )
    return response


__all__ = ["first_line", "playwright_errors", "raise_for_status"]
