"""Operator evidence file checks (pure filesystem logic, real files in a temp folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from bot.errors import EvidenceError, InputError
from bot.evidence_input import check_evidence_files, check_evidence_with_settings
from flows.registry import PackRegistry

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov"})

JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
MP4 = b"\0\0\0\x18ftypmp42" + b"\0" * 100


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "evidence"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(JPEG)
    (folder / "b.PNG").write_bytes(PNG)
    (folder / "clip.mp4").write_bytes(MP4)
    return folder


def check(paths: list[Path], root: Path | None, **overrides: object) -> list[Path]:
    limits: dict[str, object] = {
        "allowed_root": root,
        "allowed_suffixes": IMAGE_SUFFIXES | VIDEO_SUFFIXES,
        "max_bytes": 1000,
        "max_video_bytes": 5000,
        "video_suffixes": VIDEO_SUFFIXES,
        "max_count": 3,
    }
    limits.update(overrides)
    return check_evidence_files(paths, **limits)  # type: ignore[arg-type]


def test_good_files_resolved_in_order(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)
    result = check([Path("b.PNG"), root / "a.jpg", root / "sub" / ".." / "clip.mp4"], root)
    assert result == [root / "b.PNG", root / "a.jpg", root / "clip.mp4"]
    assert all(p.is_absolute() for p in result)


def test_symlink_inside_root_is_fine(root: Path) -> None:
    (root / "link.jpg").symlink_to(root / "a.jpg")
    assert check([root / "link.jpg"], root) == [root / "a.jpg"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda r: r / "nope.jpg", r"nope\.jpg does not exist"),
        (lambda r: r, r"is a directory"),
        (lambda r: r / ".." / "outside.jpg", r"outside the evidence folder"),
        (lambda r: r / "escape.jpg", r"outside the evidence folder .* through a symlink"),
        (lambda r: r / "doc.pdf", r"doc\.pdf has type '\.pdf'.*allowed: \.bmp"),
        (lambda r: r / "noext", r"type '\(none\)'"),
        (lambda r: r / "big.jpeg", r"big\.jpeg is 1001 bytes, over the image limit of 1000 bytes"),
        (
            lambda r: r / "big.MP4",
            r"big\.MP4 is 4\.9 KB \(5001 bytes\), over the video limit of 4\.9 KB \(5000 bytes\)",
        ),
        (lambda r: r / "empty.png", r"empty\.png is empty"),
        (lambda r: r / "fake.jpg", r"fake\.jpg is named '\.jpg' but its content is not a JPG"),
        (lambda r: r / "fifo.png", r"not a regular file"),
    ],
    ids=[
        "missing",
        "directory",
        "dotdot-escape",
        "symlink-escape",
        "suffix",
        "no-suffix",
        "big-image",
        "big-video",
        "empty",
        "wrong-content",
        "fifo",
    ],
)
def test_each_problem_is_an_evidence_error_naming_it(root: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    outside = root.parent / "outside.jpg"
    outside.write_bytes(JPEG)
    (root / "escape.jpg").symlink_to(outside)
    (root / "doc.pdf").write_bytes(b"%PDF-1.4")
    (root / "noext").write_bytes(JPEG)
    (root / "big.jpeg").write_bytes(JPEG + b"\0" * (1001 - len(JPEG)))
    (root / "big.MP4").write_bytes(MP4 + b"\0" * (5001 - len(MP4)))
    (root / "empty.png").write_bytes(b"")
    (root / "fake.jpg").write_bytes(b"<html>not a photo</html>")
    import os

    os.mkfifo(root / "fifo.png")
    with pytest.raises(EvidenceError, match=message) as info:
        check([root / "a.jpg", make(root)], root)
    assert isinstance(info.value, InputError)


def test_limits_are_inclusive_and_video_limit_applies_to_videos(root: Path) -> None:
    (root / "edge.jpg").write_bytes(JPEG + b"\0" * (1000 - len(JPEG)))
    (root / "video.mp4").write_bytes(MP4 + b"\0" * (5000 - len(MP4)))
    assert len(check([root / "edge.jpg", root / "video.mp4"], root)) == 2


def test_too_many_files(root: Path) -> None:
    with pytest.raises(EvidenceError, match="too many evidence files: 4 given, at most 3 allowed"):
        check([root / "a.jpg", root / "b.PNG", root / "clip.mp4", root / "a.jpg"], root)


def test_same_file_twice(root: Path) -> None:
    with pytest.raises(EvidenceError, match="same file as"):
        check([root / "a.jpg", root / "." / "a.jpg"], root)


def test_no_root_means_anywhere_and_suffixes_normalised(root: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.JPG"
    other.write_bytes(JPEG)
    assert check([other], None, allowed_suffixes=["JPG"]) == [other]


def test_missing_root_is_reported(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match=r"evidence folder .* does not exist"):
        check([tmp_path / "x.jpg"], tmp_path / "absent")


def test_settings_limits(root: Path) -> None:
    settings = Settings(max_evidence_files=1)
    rules = PackRegistry(settings).get("aliexpress").model.evidence
    ok = check_evidence_with_settings([root / "a.jpg"], settings, rules, allowed_root=root)
    assert ok == [root / "a.jpg"]
    with pytest.raises(EvidenceError, match="at most 1"):
        check_evidence_with_settings([root / "a.jpg", root / "b.PNG"], settings, rules, allowed_root=root)


def test_the_portal_pack_decides_the_types(root: Path) -> None:
    """One rule: the pack's `evidence:` block (.mp4/.mov only), not a list of Recoup's own."""
    settings = Settings()
    rules = PackRegistry(settings).get("aliexpress").model.evidence
    (root / "clip.avi").write_bytes(b"RIFF" + b"\0" * 100)
    (root / "clip.webm").write_bytes(b"\x1a\x45\xdf\xa3" + b"\0" * 100)
    assert check_evidence_with_settings([root / "clip.mp4"], settings, rules, allowed_root=root)
    for name in ("clip.avi", "clip.webm"):
        with pytest.raises(EvidenceError, match=r"which the portal does not accept; allowed: .*\.mov.*\.mp4"):
            check_evidence_with_settings([root / name], settings, rules, allowed_root=root)
