"""Evidence files checked against the pack's limits (and the stricter settings) before upload."""

from __future__ import annotations

from pathlib import Path

from bot.evidence_input import check_evidence_with_settings
from flows.env import FlowEnv


def check_evidence(env: FlowEnv, files: list[Path], evidence_root: Path) -> list[Path]:
    """The resolved files, or EvidenceError (missing, outside `evidence_root`, wrong type, too
    big, too many). The same rule as at intake (:func:`bot.evidence_input.
    check_evidence_with_settings`): the portal's limits from the pack, lowered by the settings."""
    rules = env.pack.model.evidence
    return check_evidence_with_settings(files, env.settings, rules, allowed_root=evidence_root)
