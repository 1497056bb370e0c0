"""Failpoints kill the process only when armed, and only at the armed hit."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = (
    "from bot.failpoints import failpoint\n"
    "for i in range(5):\n"
    "    print(i, flush=True)\n"
    "    failpoint('demo.point')\n"
)


def run(env_value: str | None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin"}
    if env_value is not None:
        env["RECOUP_FAILPOINTS"] = env_value
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env,
                          check=False, timeout=60, cwd=str(__import__("pathlib").Path(__file__).parents[2]))


def test_unarmed_point_does_nothing() -> None:
    result = run(None)
    assert result.returncode == 0 and result.stdout.split() == ["0", "1", "2", "3", "4"]


def test_armed_point_kills_at_the_nth_hit() -> None:
    result = run("other.point,demo.point@3")
    assert result.returncode == -9
    assert result.stdout.split() == ["0", "1", "2"]
