"""Memory of a process tree from /proc (no psutil): `TreeSampler` samples a root process and all
its live descendants every `SAMPLE_S` seconds and keeps the peaks — the sum of VmRSS over the tree
(overcounts pages shared between processes, e.g. Chromium's), the sum of Pss from
`/proc/<pid>/smaps_rollup` (shared pages split between their users), the most processes seen,
and the root's own VmHWM / peak VmRSS. Processes that vanish between listing and reading are
skipped; on a system without /proc every figure stays 0.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

SAMPLE_S = 0.5
"""Seconds between two samples."""


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def process_tree(root: int) -> list[int]:
    """`root` and all its live descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        entries = []
    for entry in entries:
        if entry.isdigit():
            parent = _ppid(int(entry))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _kb(path: str, *keys: str) -> dict[str, int]:
    """`Key:   123 kB` lines of a /proc file (missing process: {})."""
    out: dict[str, int] = {}
    try:
        for line in Path(path).read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in keys:
                out[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    return out


class TreeSampler(threading.Thread):
    """Samples the service's process tree every SAMPLE_S seconds until stopped."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True, name="tree-sampler")
        self.root = root
        self.halt = threading.Event()
        self.samples = 0
        self.peak_rss_kb = self.peak_pss_kb = self.max_processes = 0
        self.service_hwm_kb = self.service_peak_rss_kb = 0

    def run(self) -> None:
        while True:
            self.sample()
            if self.halt.wait(SAMPLE_S):
                return

    def sample(self) -> None:
        rss = pss = alive = 0
        for pid in process_tree(self.root):
            status = _kb(f"/proc/{pid}/status", "VmRSS", "VmHWM")
            if not status:
                continue
            alive += 1
            rss += status.get("VmRSS", 0)
            pss += _kb(f"/proc/{pid}/smaps_rollup", "Pss").get("Pss", 0)
            if pid == self.root:
                self.service_hwm_kb = max(self.service_hwm_kb, status.get("VmHWM", 0))
                self.service_peak_rss_kb = max(self.service_peak_rss_kb, status.get("VmRSS", 0))
        if alive:
            self.samples += 1
            self.peak_rss_kb, self.peak_pss_kb = max(self.peak_rss_kb, rss), max(self.peak_pss_kb, pss)
            self.max_processes = max(self.max_processes, alive)

    def report(self) -> dict[str, Any]:
        def mb(kb: int) -> float:
            return round(kb / 1024, 1)

        return {
            "peak_tree_rss_mb": mb(self.peak_rss_kb),
            "peak_tree_pss_mb": mb(self.peak_pss_kb),
            "service_vmhwm_mb": mb(self.service_hwm_kb),
            "service_peak_rss_mb": mb(self.service_peak_rss_kb),
            "max_processes": self.max_processes,
            "samples": self.samples,
            "interval_s": SAMPLE_S,
        }
