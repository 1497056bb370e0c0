"""The quick run (`pytest -m "not e2e"`) leaves out every test that starts Chromium, the sandbox
or Dovecot: the `e2e` marker is given by directory and by fixture in tests/conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _collected(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only", *args],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode in (0, 5), done.stdout[-2000:] + done.stderr[-2000:]  # 5: nothing collected
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_slow_tests_are_left_out_of_the_quick_run() -> None:
    slow = ["tests/cli/test_bad_input.py", "tests/engine", "tests/crash", "tests/flows/test_login.py",
            "tests/pack/test_resolve.py"]  # the last one by its `page` fixture
    assert _collected(*slow)  # they exist
    assert _collected("-m", "not e2e", *slow) == []


def test_quick_tests_stay_in_the_quick_run() -> None:
    assert _collected("-m", "not e2e", "tests/store/test_states.py", "tests/pack/test_pack_loader.py")
