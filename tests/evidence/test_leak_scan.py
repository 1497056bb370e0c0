"""The leak scanner used by the demo's secrets scan finds what it is meant to find: a secret in a
zip inside a zip, a login code only between non-digits, and nothing in clean files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from tests.fixtures.leaks import Blob, blobs, byte_hits, squeeze


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_secret_inside_a_nested_zip_is_found_and_named(tmp_path: Path) -> None:
    inner = _zip({"trace.trace": b'{"value": "hunter2-Secret"}', "frame.jpeg": b"\xff\xd8"})
    (tmp_path / "bundle.zip").write_bytes(_zip({"trace-1.zip": inner, "report.html": b"<p>ok</p>"}))
    (tmp_path / "clean.log").write_text("order 3042417938137135 submitted\n")
    found = list(blobs([tmp_path]))
    assert {b.name.split("!", 1)[-1] for b in found if "!" in b.name} >= {"trace-1.zip!trace.trace"}
    assert any(b.is_image for b in found)
    hits = byte_hits(found, ["hunter2-Secret"])
    assert hits == [f"{tmp_path / 'bundle.zip'}!trace-1.zip!trace.trace: secret hu…"]


def test_a_code_counts_only_between_non_digits() -> None:
    items = [Blob("a", b"id 3042417938137135"), Blob("b", b"code: 482913.")]
    assert byte_hits(items, ["793813"]) == []  # inside a longer number: not the code
    assert byte_hits(items, ["482913"]) == ["b: code 48…"]
    assert squeeze(" 48 29\n13 ") == "482913"
