"""What every flow and page object is given: the pack, the settings and where evidence goes.

Injected, never global: the engine builds one :class:`FlowEnv` per case (or per status scan).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from loguru import logger

from bot.config import Settings
from bot.evidence import EvidenceRecorder
from flows.pack import Pack

if TYPE_CHECKING:
    from playwright.async_api import Page

    from flows.pages.base import PortalPage

P = TypeVar("P", bound="PortalPage")


@dataclass
class FlowEnv:
    """The pack, the settings, and the case's evidence recorder (None: no evidence kept, e.g. a
    status scan). `shots_dir` receives challenge screenshots when there is no recorder."""

    pack: Pack
    settings: Settings
    evidence: EvidenceRecorder | None = None
    shots_dir: Path | None = None
    variants: Mapping[type[Any], type[Any]] = field(default_factory=dict)
    """Page-object class → the portal's variant of it (see :mod:`flows.registry`)."""

    def page_object(self, cls: type[P], page: Page) -> P:
        """The page object `cls` on `page` — or the portal's registered variant of it."""
        chosen: type[P] = self.variants.get(cls, cls)
        return chosen(page, self)

    @property
    def action_ms(self) -> float:
        """Longest wait for one element."""
        return float(self.settings.action_timeout_ms)

    @property
    def navigation_ms(self) -> float:
        """Longest wait for a page load."""
        return float(self.settings.navigation_timeout_ms)

    @property
    def confirm_ms(self) -> float:
        """Longest wait for the portal to confirm a submit."""
        return float(self.settings.confirm_timeout_ms)

    def challenge_dir(self) -> Path:
        """Folder for a challenge screenshot when no evidence recorder is attached."""
        return self.shots_dir or self.settings.data_dir / "screenshots"

    async def flush_evidence(self) -> None:
        """Wait until every capture of the case is on disk and in its manifest (no-op without a
        recorder; see :meth:`bot.evidence.EvidenceRecorder.flush`). Raises OSError when a
        capture could not be written."""
        if self.evidence is not None:
            await self.evidence.flush()

    @asynccontextmanager
    async def evidence_flushed(self) -> AsyncIterator[None]:
        """Flush the evidence when the block ends, so a flow returns (or raises) with its case
        folder complete. After a normal end a write error raises OSError; when the block
        raised, a write error is only logged and the block's error propagates."""
        try:
            yield
        except Exception:
            try:
                await self.flush_evidence()
            except OSError as exc:
                logger.warning("evidence not fully written after a failure: {}", exc)
            raise
        await self.flush_evidence()
