"""Import arrows between the layers: flows reach the Playwright error conversion through
`bot.errors_playwright` (Playwright + `bot.errors` only), not through the browser manager."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

USES_THE_BROWSER_MANAGER = {"flows/check_page.py"}
"""Flow modules that drive a BrowserManager themselves (the offline page-check server)."""


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_flows_take_playwright_errors_from_the_error_module_not_the_browser() -> None:
    flows = sorted((REPO / "flows").rglob("*.py"))
    users = [p for p in flows if "playwright_errors" in p.read_text(encoding="utf-8")]
    assert len(users) >= 14  # the page objects and flows that wrap their page actions
    for path in flows:
        name = path.relative_to(REPO).as_posix()
        if name in USES_THE_BROWSER_MANAGER:
            continue
        assert "bot.browser" not in _imported_modules(path), f"{name} imports bot.browser"


def test_the_error_module_depends_on_playwright_and_the_error_tree_only() -> None:
    imported = _imported_modules(REPO / "bot" / "errors_playwright.py")
    assert {m for m in imported if m.split(".")[0] in {"bot", "flows"}} == {"bot.errors"}
