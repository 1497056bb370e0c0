"""Checks on the operator's evidence files, before a case is created or anything uploaded.

:func:`check_evidence_files` either returns the resolved paths of files the portal will accept or
raises :class:`bot.errors.EvidenceError` with a message an operator can act on (it names the file
and the limit). Nothing is written.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Protocol

from bot.config import Settings
from bot.errors import EvidenceError


class PortalEvidenceRules(Protocol):
    """What a portal accepts as evidence: the pack's `evidence:` block
    (:class:`flows.pack_schema.EvidenceLimits`)."""

    @property
    def image_suffixes(self) -> list[str]: ...
    @property
    def video_suffixes(self) -> list[str]: ...
    @property
    def max_image_bytes(self) -> int: ...
    @property
    def max_video_bytes(self) -> int: ...
    @property
    def max_count(self) -> int: ...


# Leading bytes of each known type: a renamed file (a .pdf called .jpg) is refused here rather
# than by the portal after the upload. Types not listed are not sniffed.
_MAGIC: dict[str, tuple[tuple[int, bytes], ...]] = {
    ".jpg": ((0, b"\xff\xd8\xff"),),
    ".jpeg": ((0, b"\xff\xd8\xff"),),
    ".png": ((0, b"\x89PNG\r\n\x1a\n"),),
    ".gif": ((0, b"GIF87a"), (0, b"GIF89a")),
    ".bmp": ((0, b"BM"),),
    ".mp4": ((4, b"ftyp"),),
    ".mov": ((4, b"ftyp"), (4, b"moov"), (4, b"wide"), (4, b"mdat")),
    ".webm": ((0, b"\x1a\x45\xdf\xa3"),),
    ".avi": ((0, b"RIFF"),),
}


def check_evidence_files(
    paths: Sequence[Path],
    *,
    allowed_root: Path | None,
    allowed_suffixes: Collection[str],
    max_bytes: int,
    max_video_bytes: int,
    video_suffixes: Collection[str],
    max_count: int,
) -> list[Path]:
    """Validate evidence files; return their resolved paths in the given order.

    Each path is resolved (relative paths against the current folder, symlinks followed) and
    must: exist, be a regular file, lie inside `allowed_root` when given (so neither `../` nor a
    symlink can escape it), have an allowed suffix (case-insensitive), not be empty, start with
    the bytes of its type, and be at most `max_bytes` (`max_video_bytes` for `video_suffixes`).
    At most `max_count` files, no file twice. The first failure raises EvidenceError.
    """
    if len(paths) > max_count:
        raise EvidenceError(
            f"too many evidence files: {len(paths)} given, at most {max_count} allowed",
            count=len(paths),
            limit=max_count,
        )
    allowed = {_norm_suffix(s) for s in allowed_suffixes}
    videos = {_norm_suffix(s) for s in video_suffixes}
    root = allowed_root.resolve() if allowed_root is not None else None
    if root is not None and not root.is_dir():
        raise EvidenceError(f"the evidence folder {allowed_root} does not exist", root=str(allowed_root))
    seen: dict[Path, Path] = {}
    resolved_paths: list[Path] = []
    for given in paths:
        resolved = _check_one(given, root, allowed, videos, max_bytes, max_video_bytes)
        if resolved in seen:
            raise EvidenceError(
                f"evidence file {given} is the same file as {seen[resolved]}; give each file once",
                path=str(given),
            )
        seen[resolved] = given
        resolved_paths.append(resolved)
    return resolved_paths


def check_evidence_with_settings(
    paths: Sequence[Path], settings: Settings, rules: PortalEvidenceRules, *, allowed_root: Path | None = None
) -> list[Path]:
    """:func:`check_evidence_files` with the types the portal accepts (`rules`: the pack's
    `evidence:` block) and its size and count limits, each lowered by the settings where
    stricter. A type the portal does not take raises EvidenceError naming the allowed types."""
    return check_evidence_files(
        paths,
        allowed_root=allowed_root,
        allowed_suffixes=[*rules.image_suffixes, *rules.video_suffixes],
        max_bytes=min(rules.max_image_bytes, settings.max_evidence_bytes),
        max_video_bytes=min(rules.max_video_bytes, settings.max_evidence_video_bytes),
        video_suffixes=rules.video_suffixes,
        max_count=min(rules.max_count, settings.max_evidence_files),
    )


def _check_one(
    given: Path,
    root: Path | None,
    allowed: set[str],
    videos: set[str],
    max_bytes: int,
    max_video_bytes: int,
) -> Path:
    try:
        resolved = given.expanduser().resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # RuntimeError: symlink loop on older Pythons
        raise EvidenceError(f"evidence file {given} cannot be resolved: {exc}", path=str(given)) from exc
    if root is not None and not resolved.is_relative_to(root):
        via = " through a symlink" if _has_symlink(given) else ""
        raise EvidenceError(
            f"evidence file {given} is outside the evidence folder {root}{via}; "
            f"copy it into that folder first",
            path=str(given),
            root=str(root),
        )
    if not resolved.exists():
        raise EvidenceError(f"evidence file {given} does not exist", path=str(given))
    if resolved.is_dir():
        raise EvidenceError(f"evidence file {given} is a directory, not a file", path=str(given))
    if not resolved.is_file():
        raise EvidenceError(f"evidence file {given} is not a regular file", path=str(given))
    suffix = resolved.suffix.lower()
    if suffix not in allowed:
        kinds = ", ".join(sorted(allowed)) or "none"
        raise EvidenceError(
            f"evidence file {given} has type '{suffix or '(none)'}', which the portal does not "
            f"accept; allowed: {kinds}",
            path=str(given),
        )
    size = resolved.stat().st_size
    is_video = suffix in videos
    limit = max_video_bytes if is_video else max_bytes
    if size == 0:
        raise EvidenceError(f"evidence file {given} is empty", path=str(given))
    if size > limit:
        raise EvidenceError(
            f"evidence file {given} is {_human(size)}, over the {'video' if is_video else 'image'} "
            f"limit of {_human(limit)}",
            path=str(given),
            size=size,
            limit=limit,
        )
    _check_magic(given, resolved, suffix)
    return resolved


def _check_magic(given: Path, resolved: Path, suffix: str) -> None:
    signatures = _MAGIC.get(suffix)
    if not signatures:
        return
    try:
        with resolved.open("rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise EvidenceError(f"evidence file {given} cannot be read: {exc.strerror}", path=str(given)) from exc
    if not any(head[at : at + len(sig)] == sig for at, sig in signatures):
        raise EvidenceError(
            f"evidence file {given} is named '{suffix}' but its content is not a {suffix[1:].upper()} file",
            path=str(given),
        )


def _has_symlink(path: Path) -> bool:
    absolute = path if path.is_absolute() else Path.cwd() / path
    return any(p.is_symlink() for p in (absolute, *absolute.parents))


def _norm_suffix(suffix: str) -> str:
    suffix = suffix.lower()
    return suffix if suffix.startswith(".") else f".{suffix}"


def _human(size: int) -> str:
    """`999 bytes`, `1.5 KB (1536 bytes)`, `2.0 MB (2097151 bytes)`."""
    if size < 1024:
        return f"{size} bytes"
    value = size / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit} ({size} bytes)"
        value /= 1024
    return f"{value:.1f} GB ({size} bytes)"
