"""`SandboxAdmin`: a small httpx client for the `/__sandbox__/` API (tests and the demo use it).

Every call raises httpx.HTTPStatusError on a non-2xx answer.
"""

from __future__ import annotations

from typing import Any

import httpx


class SandboxAdmin:
    """Admin calls of one running sandbox."""

    def __init__(self, url: str, token: str) -> None:
        self._http = httpx.Client(
            base_url=url + "/__sandbox__", headers={"X-Sandbox-Token": token}, timeout=30,
            # no idle keep-alive: uvicorn closes idle connections after 5 s, and a request sent on
            # one at that moment fails with "connection reset by peer"
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def _get(self, path: str, **params: Any) -> Any:
        resp = self._http.get(path, params={k: v for k, v in params.items() if v is not None})
        resp.raise_for_status()
        return resp.json()

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = self._http.post(path, json=body or {})
        resp.raise_for_status()
        return resp.json()

    def state(self) -> dict[str, Any]:
        """Accounts and orders as the portal holds them now."""
        return dict(self._get("/state"))

    def order(self, order_id: str) -> dict[str, Any]:
        """One order of `state()`."""
        return dict(self.state()["orders"][order_id])

    def submissions(self, order_id: str | None = None) -> dict[str, Any]:
        """Submit POSTs counted for one order (`count` = accepted + duplicates), or for all orders."""
        return dict(self._get("/submissions", order_id=order_id))

    def requests_sent(self, order_id: str) -> dict[str, int]:
        """Per kind (cancel, refund, offer...), how many requests for `order_id` reached the portal
        (accepted + duplicates; refused-by-fault and invalid posts are not requests)."""
        by_kind = self.submissions(order_id)["by_kind"]
        return {kind: n["accepted"] + n["duplicates"] for kind, n in by_kind.items()}

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the sandbox clock forward and run the seller decisions that fall due."""
        return dict(self._post("/clock/advance", {"seconds": seconds}))

    def clock(self) -> dict[str, Any]:
        return dict(self._get("/clock"))

    def clear_challenge(self, email: str) -> dict[str, Any]:
        """A human solved the slider for this account."""
        return dict(self._post("/challenge/clear", {"account": email}))

    def raise_challenge(self, email: str, form: str = "dialog") -> dict[str, Any]:
        return dict(self._post("/challenge/raise", {"account": email, "form": form}))

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Merge these fault settings into the active ones (see `sandbox.settings.Faults`)."""
        return dict(self._post("/faults", faults))

    def clear_faults(self) -> dict[str, Any]:
        return dict(self._post("/faults/clear"))

    def set_settings(self, **settings: Any) -> dict[str, Any]:
        """Change run-time settings (overlay, limits, lifetimes; see `admin.RUNTIME_SETTINGS`)."""
        return dict(self._post("/settings", settings))

    def expire_session(self, email: str | None = None) -> dict[str, Any]:
        """Drop the server-side sessions of one account (or all)."""
        return dict(self._post("/sessions/expire", {"account": email} if email else {}))

    def mail_log(self, wait: bool = True) -> list[dict[str, Any]]:
        """Mails sent so far; `wait` first lets the queued ones be attempted."""
        return list(self._get("/mail", wait=1 if wait else None))

    def set_order_status(self, order_id: str, status: str, mail: bool = True) -> dict[str, Any]:
        return dict(self._post(f"/orders/{order_id}/status", {"status": status, "mail": mail}))

    def page_loads(self) -> dict[str, dict[str, int]]:
        """GET answers the portal rendered per account email: `page` (full pages) and `fragment`
        (partials such as a "View orders" batch); "" counts signed-out pages. Never reset."""
        return {str(k): dict(v) for k, v in self._get("/page_loads").items()}

    def reset(self) -> dict[str, Any]:
        """Back to the scenario: orders, sessions, counts, challenges, faults (the clock keeps running)."""
        return dict(self._post("/reset"))

    def close(self) -> None:
        self._http.close()
