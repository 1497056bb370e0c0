"""Everything Recoup writes is private to its user (issue 13, finding 10): after a real run the
data folder and every folder in it are 0700 and every file (database, logs, screenshots,
manifest, report) 0600, whatever umask the shell had; an export written with -o is 0600 too;
an existing data folder others could enter is tightened."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.cli.conftest import Cli


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_folder_files_and_export_are_private(cli: Cli) -> None:
    os.umask(0o022)  # a usual shell: without Recoup's own umask files would be 0644 in 0755
    cli.data.mkdir(mode=0o755)
    cli.data.chmod(0o755)  # a folder an older version (or the operator) left open
    cli.add_account("ann", "ann@buyer.test")
    out = cli.json("cancel", "3042417938137200", "--account", "ann", "--reason", "not_shipped_on_time")
    assert out["state"] == "submitted" and out["report"]
    export = cli.tmp / "cases.json"
    cli("cases", "export", "-o", str(export))

    files = [p for p in cli.data.rglob("*") if p.is_file()]
    folders = [cli.data, *(p for p in cli.data.rglob("*") if p.is_dir())]
    names = {p.name for p in files}
    assert {"recoup.db", "recoup.log", "report.html", "manifest.json"} <= names, names
    assert any(p.suffix in (".jpg", ".png") for p in files), names  # screenshots
    assert {p.relative_to(cli.data).as_posix(): oct(_mode(p)) for p in folders if _mode(p) != 0o700} == {}
    assert {p.relative_to(cli.data).as_posix(): oct(_mode(p)) for p in files if _mode(p) & 0o077} == {}
    assert _mode(Path(out["report"])) == 0o600
    assert _mode(export) == 0o600
