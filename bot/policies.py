"""Small decisions the scheduler and the intake share, each one a pure function of settings.

* :func:`next_check_at` — how often an open case's status is read (the backoff rule);
* :func:`pacing_delay` — the pause after any portal session on one account;
* :func:`dispute_share_guard` — refuse a dispute that would exceed the account's cap.

Status-check backoff rule: a case counts as *new* until `status_check_new_age_hours` after it
was submitted (or created, when no submit was recorded); a new case is read again every
`status_check_new_minutes`, an older one every `status_check_old_hours`. A mail, an operator or
a deadline may make a check due earlier (they set `check_due_at` to now).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.config import Settings
from bot.errors import DisputeShareError
from bot.models import NewCase
from bot.store._clock import RandomSource
from bot.store._intake import AccountLoad, Guard
from bot.store._tracking import CaseTracking

PACING_JITTER = 0.5
"""Pacing adds a random extra of up to this share of `pacing_seconds`."""


def is_new(settings: Settings, case: CaseTracking, now: datetime) -> bool:
    """True while the case is younger than `status_check_new_age_hours` (from its submit)."""
    since = case.submit_intent_at or case.created_at
    return now - since <= timedelta(hours=settings.status_check_new_age_hours)


def next_check_at(settings: Settings, case: CaseTracking, now: datetime) -> datetime:
    """When to read the case's status again after a check at `now` (see the module rule)."""
    if is_new(settings, case, now):
        return now + timedelta(minutes=settings.status_check_new_minutes)
    return now + timedelta(hours=settings.status_check_old_hours)


def pacing_delay(settings: Settings, rng: RandomSource) -> timedelta:
    """`pacing_seconds` plus up to 50 % jitter drawn from `rng` (zero when pacing is off)."""
    base = settings.pacing_seconds
    return timedelta(seconds=base * (1.0 + PACING_JITTER * rng.random()))


def dispute_share_guard(settings: Settings) -> Guard:
    """A guard for :meth:`bot.store._intake.IntakeRepository.create_with` that refuses a new
    dispute (refund case) when `(disputes + 1) / orders_seen` would exceed
    `dispute_share_cap`, or when the account's order count is not known yet (a status scan
    records it). A cap of 1.0 turns the check off. Raises DisputeShareError."""
    cap = settings.dispute_share_cap

    def guard(new: NewCase, load: AccountLoad) -> None:
        if cap >= 1.0:
            return
        if not load.orders_seen:
            raise DisputeShareError(
                f"account {load.account!r} has no known order count, so the share of its orders "
                f"under dispute cannot be checked (cap {cap:.0%}); run a status scan of the "
                f"account first",
                account=load.account,
            )
        share = (load.disputes + 1) / load.orders_seen
        if share > cap:
            raise DisputeShareError(
                f"a dispute on order {new.order_id} would put {load.disputes + 1} of the "
                f"{load.orders_seen} known orders of account {load.account!r} under dispute "
                f"({share:.0%}), above the cap of {cap:.0%}; accounts with many disputes get banned",
                account=load.account,
                disputes=load.disputes,
                orders_seen=load.orders_seen,
                cap=cap,
            )

    return guard
