"""Evidence files checked against the pack's limits (and the stricter settings) before upload."""

from __future__ import annotations

from pathlib import Path

from bot.evidence_input import check_evidence_files
from flows.env import FlowEnv


def check_evidence(env: FlowEnv, files: list[Path], evidence_root: Path) -> list[Path]:
    """The resolved files, or EvidenceError (missing, outside `evidence_root`, wrong type, too
    big, too many). Limits: the portal's from the pack, lowered by the settings where stricter."""
    limits = env.pack.model.evidence
    settings = env.settings
    return check_evidence_files(
        files,
        allowed_root=evidence_root,
        allowed_suffixes=[*limits.image_suffixes, *limits.video_suffixes],
        max_bytes=min(limits.max_image_bytes, settings.max_evidence_bytes),
        max_video_bytes=min(limits.max_video_bytes, settings.max_evidence_video_bytes),
        video_suffixes=limits.video_suffixes,
        max_count=min(limits.max_count, settings.max_evidence_files),
    )
