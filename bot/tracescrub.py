"""Remove secrets from a Playwright trace zip before it is kept as evidence.

A raw trace holds the password typed into the login form (in the `fill` action, in DOM snapshots
and in the POSTed form body), session cookies (request/response headers) and one-time codes.
:func:`scrub_trace` rewrites the zip so that none of these survive:

- values of password / one-time-code inputs found in DOM snapshots are collected as secrets;
- cookies, `Cookie`/`Set-Cookie`/`Authorization`/token headers and request bodies are replaced
  by ``[redacted]`` (and the files holding request bodies are dropped);
- every collected or given secret (length >= 4) is replaced by ``[redacted]`` in every text
  entry of the zip;
- screencast frames (images) of a page are dropped for the whole time one of its frames may show
  a typed password or code: from the start of the action during which a DOM snapshot first
  shows a value in a password / one-time-code input (or the last snapshot before, if earlier)
  until a complete snapshot of that frame (no node carried over from an earlier one, as after
  a navigation) shows no such value; to the end of the trace if none does. The login flow also
  masks these fields before typing (:func:`flows.pages.login.conceal`): two independent guards.

The output is written atomically with mode 0600. Raises ValueError for a zip that is not a trace,
OSError when the files cannot be read or written.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

from bot.atomic import atomic_write_bytes

REDACTED = "[redacted]"
_SECRET_HEADERS = frozenset(
    {"cookie", "set-cookie", "authorization", "proxy-authorization", "x-csrf-token", "x-xsrf-token"}
)
_SECRET_AUTOCOMPLETE = frozenset({"current-password", "new-password", "one-time-code"})
_VALUE_KEYS = ("__playwright_value_", "value")
_TEXT_SUFFIXES = (".trace", ".network", ".stacks", ".json", ".html", ".htm", ".txt", ".css", ".js", ".dat")
_MIN_SECRET = 4


def scrub_trace(src: Path, dest: Path, *, secrets: Collection[str] = ()) -> None:
    """Write a scrubbed copy of trace `src` to `dest` (see the module docstring)."""
    with zipfile.ZipFile(src) as zin:
        names = zin.namelist()
        if "trace.trace" not in names:
            raise ValueError(f"{src.name} is not a Playwright trace")
        entries = {name: zin.read(name) for name in names}
    found: set[str] = {s for s in secrets if len(s) >= _MIN_SECRET}
    dropped: set[str] = set()
    for name in ("trace.trace", "trace.network"):
        if name in entries:
            events = _parse_jsonl(entries[name])
            if name == "trace.trace":
                events = _drop_secret_frames(events, dropped)
            entries[name] = _dump_jsonl(
                [_scrub(e, found, dropped) if isinstance(e, dict) else e for e in events]
            )
    needles = sorted(found, key=len, reverse=True)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        for name, data in entries.items():
            if name in dropped:
                continue
            if name.endswith(_TEXT_SUFFIXES) or "." not in name.rsplit("/", 1)[-1]:
                data = _replace_all(data, needles)
            zout.writestr(name, data)
    atomic_write_bytes(dest, out.getvalue(), mode=0o600)


def _parse_jsonl(data: bytes) -> list[Any]:
    """The events of a JSON-lines entry; a line that is not JSON is kept as its text."""
    events: list[Any] = []
    for raw in data.decode("utf-8", errors="replace").splitlines():
        if not raw.strip():
            continue
        try:
            events.append(json.loads(raw))
        except ValueError:
            events.append(raw)
    return events


def _dump_jsonl(events: list[Any]) -> bytes:
    lines = [e if isinstance(e, str) else json.dumps(e, separators=(",", ":")) for e in events]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _drop_secret_frames(events: list[Any], dropped: set[str]) -> list[Any]:
    """`events` without the screencast frames recorded while a secret may be on screen (see the
    module docstring); the image files of those frames join `dropped`."""
    windows: dict[str, list[tuple[float, float]]] = {}  # pageId -> [start, end)
    clean_at: dict[str, float] = {}  # frameId -> time of its last snapshot showing no secret
    open_at: dict[str, tuple[str, float]] = {}  # frameId -> (pageId, start) of an open window
    action_start: dict[str, float] = {}  # callId -> start time of the action
    for event in events:
        if isinstance(event, dict) and event.get("type") == "before":
            action_start[str(event.get("callId"))] = _time(event.get("startTime"))
        if not isinstance(event, dict) or event.get("type") != "frame-snapshot":
            continue
        snap = event.get("snapshot")
        if not isinstance(snap, dict):
            continue
        frame, page, at = str(snap.get("frameId")), str(snap.get("pageId")), _time(snap.get("timestamp"))
        if _holds_secret(snap.get("html")):
            if frame not in open_at:
                start = min(clean_at.get(frame, float("-inf")), action_start.get(str(snap.get("callId")), at))
                open_at[frame] = (page, start)
        elif frame not in open_at:
            clean_at[frame] = at
        elif not _carries_nodes_over(snap.get("html")):
            page_of, start = open_at.pop(frame)
            windows.setdefault(page_of, []).append((start, at))
            clean_at[frame] = at
    for page_of, start in open_at.values():
        windows.setdefault(page_of, []).append((start, float("inf")))
    kept: list[Any] = []
    for event in events:
        if isinstance(event, dict) and event.get("type") == "screencast-frame":
            at = _time(event.get("timestamp"))
            if any(start <= at < end for start, end in windows.get(str(event.get("pageId")), [])):
                for key, prefix in (("file", ""), ("sha1", "resources/")):
                    if isinstance(event.get(key), str):
                        dropped.add(prefix + event[key])
                continue
        kept.append(event)
    return kept


def _time(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _holds_secret(node: Any) -> bool:
    """Does this snapshot tree show a value in a password / one-time-code input?"""
    if not isinstance(node, list):
        return False
    if (
        len(node) >= 2
        and isinstance(node[0], str)
        and isinstance(node[1], dict)
        and _is_secret_input(node[0], node[1])
        and any(node[1].get(k) for k in _VALUE_KEYS)
    ):
        return True
    return any(_holds_secret(child) for child in node)


def _carries_nodes_over(node: Any) -> bool:
    """Does this snapshot tree reuse nodes of an earlier snapshot (`[[delta, index]]`)?"""
    if not isinstance(node, list) or not node:
        return False
    if isinstance(node[0], list) and all(isinstance(n, int) for n in node[0]):
        return True
    return any(_carries_nodes_over(child) for child in node)


def _is_secret_input(tag: str, attrs: dict[str, Any]) -> bool:
    if tag.upper() != "INPUT":
        return False
    kind = str(attrs.get("type", "")).lower()
    autocomplete = set(str(attrs.get("autocomplete", "")).lower().split())
    return kind == "password" or bool(autocomplete & _SECRET_AUTOCOMPLETE)


def _scrub(node: Any, found: set[str], dropped: set[str]) -> Any:
    """Return `node` with secret-bearing parts redacted; collects secret values into `found`."""
    if isinstance(node, list):
        if len(node) >= 2 and isinstance(node[0], str) and isinstance(node[1], dict):
            _scrub_element_attrs(node[0], node[1], found)
        return [_scrub(child, found, dropped) for child in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "cookies" and isinstance(value, list):
            result[key] = [_redact_pair(c, found) for c in value]
        elif key == "postData" and isinstance(value, dict):
            file = value.get("_file")
            if isinstance(file, str):
                dropped.add(file)
            result[key] = {"mimeType": value.get("mimeType", ""), "text": REDACTED}
        elif key == "headers" and isinstance(value, list):
            result[key] = [
                _redact_pair(h, found)
                if isinstance(h, dict) and str(h.get("name", "")).lower() in _SECRET_HEADERS
                else h
                for h in value
            ]
        else:
            result[key] = _scrub(value, found, dropped)
    return result


def _scrub_element_attrs(tag: str, attrs: dict[str, Any], found: set[str]) -> None:
    if not _is_secret_input(tag, attrs):
        return
    for key in _VALUE_KEYS:
        value = attrs.get(key)
        if isinstance(value, str) and value:
            if len(value) >= _MIN_SECRET:
                found.add(value)
            attrs[key] = REDACTED


def _redact_pair(pair: Any, found: set[str]) -> Any:
    """Redact a `{name, value}` cookie or header; its secret tokens join `found`."""
    if not isinstance(pair, dict) or "value" not in pair:
        return pair
    value = pair["value"]
    if isinstance(value, str):
        found.update(t for t in _secret_tokens(str(pair.get("name", "")), value) if len(t) >= _MIN_SECRET)
    return {**pair, "value": REDACTED}


def _secret_tokens(name: str, value: str) -> list[str]:
    """The secret parts of a header or cookie value (never attribute words like `HttpOnly`)."""
    lowered = name.lower()
    if lowered == "set-cookie":
        # one cookie per line; only `name=value` before the first `;` is secret
        return [line.split(";", 1)[0].split("=", 1)[-1].strip() for line in value.splitlines()]
    if lowered == "cookie":
        return [part.split("=", 1)[-1].strip() for part in value.split(";")]
    if lowered in ("authorization", "proxy-authorization"):
        return [value.strip(), value.strip().split(" ", 1)[-1]]
    return [value.strip()]


def _replace_all(data: bytes, needles: list[str]) -> bytes:
    for needle in needles:
        for form in {needle, json.dumps(needle)[1:-1]}:
            data = data.replace(form.encode("utf-8"), REDACTED.encode("utf-8"))
    return data
