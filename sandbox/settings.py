"""Settings of the sandbox portal and its run-time faults.

`SandboxSettings` is fixed for one start (a scenario may give defaults under `settings:`; values the
caller sets explicitly win). `Faults` can be changed while the portal runs (admin API) and never
apply to `/__sandbox__/` calls. Invalid values raise pydantic's ValidationError.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Faults(BaseModel):
    """Misbehaviour injected by the fault middleware; all off by default."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: int = Field(default=0, ge=0)
    """Added to every portal request (not admin, not static files)."""
    error_share: float = Field(default=0.0, ge=0.0, le=1.0)
    """Share of portal requests answered with `error_status` (decided before any state change)."""
    error_next: int = Field(default=0, ge=0)
    """The next N matching portal requests answer `error_status` (deterministic form of `error_share`)."""
    error_methods: Literal["any", "POST"] = "any"
    """Which requests `error_share` / `error_next` hit: all, or only POSTs (submits, uploads, login)."""
    error_status: int = Field(default=503, ge=500, le=599)
    """Status code of an injected error."""
    drop_share: float = Field(default=0.0, ge=0.0, le=1.0)
    """Share of portal requests whose connection is cut after the headers (no complete answer)."""
    drop_next: int = Field(default=0, ge=0)
    """The next N portal GET requests have their connection cut."""
    session_expiry_share: float = Field(default=0.0, ge=0.0, le=1.0)
    """Share of signed-in requests whose session expires just before the request is handled."""
    expire_session_after: int | None = Field(default=None, ge=0)
    """Expire every session after this many signed-in requests (a session dying mid-flow)."""
    challenge_share: float = Field(default=0.0, ge=0.0, le=1.0)
    """Share of buyer page loads that raise a slider challenge for the account."""
    challenge_form: Literal["dialog", "page"] = "dialog"
    """Form of challenges raised by `challenge_share`."""
    seed: int | None = None
    """Seed of the fault dice (None: random)."""


class SandboxSettings(BaseModel):
    """Everything fixed for one start of the sandbox portal."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    """Interface to listen on (loopback only)."""
    port: int = Field(default=0, ge=0, le=65535)
    """TCP port; 0 picks a free one."""
    layout: Literal["a", "b"] = "a"
    """Page layout: `a` follows the real site's class names, `b` renames and moves elements."""
    hash_seed: str | None = None
    """Seed of the CSS-module hash suffixes; None gives new class names at every start."""
    admin_token: str | None = None
    """Token for `/__sandbox__/` calls (header `X-Sandbox-Token`); None generates one."""
    session_lifetime_s: int = Field(default=15 * 24 * 3600, ge=1)
    """Server-side session lifetime in sandbox-clock seconds."""
    lockout_after: int = Field(default=5, ge=1)
    """Failed logins (password or code) in a row before the account is locked."""
    lockout_s: int = Field(default=900, ge=1)
    """How long a lockout lasts, sandbox-clock seconds."""
    upload_image_max_bytes: int = Field(default=2 * 1024 * 1024 - 1, ge=1)
    """Largest accepted image (the real limit: under 2 MB)."""
    upload_video_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    """Largest accepted video (.mp4 .mov); the real limit is unknown."""
    upload_max_files: int = Field(default=6, ge=1)
    """Most evidence files per request."""
    overlay_share: float = Field(default=0.0, ge=0.0, le=1.0)
    """Share of list/detail loads that show the click-intercepting loading overlay."""
    overlay_ms: int = Field(default=1500, ge=0)
    """How long the loading overlay stays."""
    cancel_auto_approve_hours: float = Field(default=48.0, gt=0)
    """A cancellation request the seller does not answer is approved after this many sandbox hours."""
    refund_auto_accept_hours: float = Field(default=120.0, gt=0)
    """A refund request the seller does not answer is refunded after this many sandbox hours (5 days)."""
    platform_decision_hours: float = Field(default=72.0, gt=0)
    """An escalated dispute is decided by the platform after this many sandbox hours."""
    refund_window_days: int = Field(default=15, ge=0)
    """Returns/refunds allowed for completed orders up to this many days after receipt."""
    lmtp_host: str | None = None
    """Dovecot LMTP host for outgoing mail; None keeps mails in the log only."""
    lmtp_port: int | None = None
    """Dovecot LMTP port."""
    mail_link_base: str | None = None
    """Base of links in mails; None uses the portal's own URL."""
    faults: Faults = Field(default_factory=Faults)
    """Faults active from the start."""
    log_level: str = "warning"
    """uvicorn log level."""
