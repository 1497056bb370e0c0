"""Named crash points for crash tests (like FreeBSD's fail points), off unless asked for.

`failpoint("submit.after_click")` does nothing unless the environment variable
`RECOUP_FAILPOINTS` names that point; then the process kills itself with SIGKILL on the spot,
exactly as a power cut or an OOM kill would: no `finally`, no flush, no lease release.

`RECOUP_FAILPOINTS` is a comma-separated list of `name` or `name@N` (fire on the N-th time the
point is reached in this process, default 1). The points the code defines:

* `submit.before_click` — the submit intent is committed, the irreversible click not yet made;
* `submit.after_click`  — the portal took the request, the `submitted` state not yet committed;
* `mail.mid_batch`      — a mail has been processed and committed, the next one not yet.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "RECOUP_FAILPOINTS"
_hits: Counter[str] = Counter()


def _armed() -> dict[str, int]:
    spec = os.environ.get(ENV, "")
    armed: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, nth = part.partition("@")
        armed[name] = int(nth) if nth.isdigit() and int(nth) > 0 else 1
    return armed


def failpoint(name: str) -> None:
    """Kill this process with SIGKILL if `name` is armed and reached its count; else nothing."""
    armed = _armed()
    if name not in armed:
        return
    _hits[name] += 1
    if _hits[name] == armed[name]:
        os.kill(os.getpid(), signal.SIGKILL)
