"""`recoup mail unrecognised|reclassify|classify`: what Recoup made of the portal's mail.

- ``unrecognised`` lists the portal mails that matched no rule of the pack (kept by the poller,
  login codes masked) and counts them.
- ``reclassify`` runs the CURRENT pack over them and applies each one it now recognises, once:
  a kept mail is marked applied in the transaction that applies it, so a second run changes
  nothing (:meth:`bot.mail.poller.MailPoller.reclassify`).
- ``classify FILE.eml…`` reads an operator's own saved mails without touching the store: the
  sender (accepted as the portal's or not, and why), the order ids, what the pack reads, and —
  when a store exists — which open cases would get a status check. An unreadable file or one
  that is no mail exits 2 (after the other files are shown).

Stored and mail text is printed literally (:mod:`bot.display`), never as markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from bot.cli.common import ExitCode, JsonOpt, opening
from bot.config import Settings
from bot.display import line, shown
from bot.errors import InputError, RecoupError
from bot.mail.classify import LOGIN_CODE, MailClassifier, MailSignal
from bot.mail.effects import NO_EFFECT, outcome_for
from bot.mail.message import MAX_RAW_BYTES, MailMessage, parse_message
from bot.mail.poller import MailPoller
from bot.mail.summary import excerpt_of, order_ids_seen
from bot.store import OpenCaseRef, Store, UnrecognisedMail
from flows.pack import Pack
from flows.registry import PackRegistry

app = typer.Typer(
    help="Portal mail: list what matched no rule, reclassify it, read saved .eml files.",
    no_args_is_help=True,
)

AccountOpt = Annotated[str | None, typer.Option(help="Only this account.")]


def _when(mail: UnrecognisedMail) -> str:
    at = mail.mail.received_at or mail.mail.sent_at
    return at.strftime("%Y-%m-%d %H:%M") if at else "-"


@app.command("unrecognised")
def unrecognised(
    ctx: typer.Context,
    account: AccountOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Also those a reclassification applied since.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the portal mails that matched no rule (subject, date, order ids) and count them."""
    with opening(ctx, as_json, store="create") as cmd:
        out, store = cmd.out, cmd.store
        if account is not None:
            store.accounts.get(account)
        mails = store.unrecognised.list_kept(account=account, pending_only=not all_)
        pending = sum(1 for m in mails if m.resolved_at is None)
        payload = {"count": len(mails), "pending": pending, "mails": [m.as_dict() for m in mails]}

        def human() -> None:
            if mails:
                table = Table("id", "account", "date", "from", "subject", "order ids", "status")
                for m in mails:
                    table.add_row(
                        str(m.id),
                        shown(m.account),
                        _when(m),
                        shown(m.mail.sender),
                        shown(m.mail.subject or "(no subject)"),
                        shown(", ".join(m.mail.order_ids) or "-"),
                        shown(f"applied as {m.resolved_kind}" if m.resolved_at else "unrecognised"),
                    )
                out.console.print(table)
            out.console.print(
                line(
                    f"{pending} unrecognised portal mail(s) kept" + (f", {len(mails)} listed" if all_ else "")
                )
            )

        out.data(payload, human)


@app.command("reclassify")
def reclassify(ctx: typer.Context, account: AccountOpt = None, as_json: JsonOpt = False) -> None:
    """Run the current pack over the kept unrecognised mails; apply what now matches, once."""
    with opening(ctx, as_json, store="create") as cmd:
        out, store = cmd.out, cmd.store
        packs = PackRegistry(cmd.settings)
        packs.get(cmd.settings.portal)
        poller = MailPoller(store, packs, cmd.settings)
        changed = poller.reclassify(account)
        left = len(store.unrecognised.list_kept(account=account, pending_only=True))
        payload = {
            "changed": [c.as_dict() for c in changed],
            "applied": len(changed),
            "still_unrecognised": left,
        }

        def human() -> None:
            for c in changed:
                kept = c.kept
                out.console.print(
                    line(
                        shown(f"mail {kept.id}", "bold"),
                        f" ({kept.account}, {kept.mailbox} UID {kept.uid}) ",
                        shown(repr(kept.mail.subject)),
                        f" now reads as {c.kind} for order(s) {', '.join(c.order_ids) or '-'}",
                    )
                )
                for case_id in c.applied.checked:
                    out.console.print(line(f"  case {case_id}: status check requested"))
                for case_id, state in c.applied.moved:
                    out.console.print(line(f"  case {case_id}: moved to {state.value} (trusted account)"))
                if not c.applied.changed_cases:
                    out.console.print(line("  no open case of these orders"))
            out.console.print(line(f"{len(changed)} mail(s) applied; {left} still unrecognised"))

        out.data(payload, human)


# ---- classify ----------------------------------------------------------------------------------
def _read_eml(path: Path) -> bytes:
    """The first MAX_RAW_BYTES + 1 bytes of `path`; InputError when it cannot be read."""
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_RAW_BYTES + 1)
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a saved mail") from None
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None


def _sender_verdict(classifier: MailClassifier, message: MailMessage) -> tuple[bool, str]:
    """Whether the sender counts as the portal's, and why, in words."""
    if classifier.is_portal_sender(message):
        if message.sender == classifier.sender:
            return True, f"the From address is the pack's sender {classifier.sender}"
        return True, f"accepted by the sender rules (relay, forward or alias of {classifier.sender})"
    if not message.sender:
        return False, "the From header is missing, repeated, names several mailboxes or is malformed"
    if classifier.sender in message.sender_name.lower():
        return False, (
            f"the From address {message.sender} is not {classifier.sender}; "
            "the portal's address appears only in the display name"
        )
    return False, f"the From address {message.sender} is not the pack's sender {classifier.sender}"


def _reading(poller_rules: frozenset[str], signal: MailSignal | None, portal: bool) -> tuple[str, str]:
    """(kind, what it means) of a classified mail."""
    if signal is not None and signal.kind == LOGIN_CODE:
        return LOGIN_CODE, "a verification-code mail (read by the login flow only; no effect on cases)"
    if signal is not None and signal.kind in poller_rules:
        return signal.kind, f"pack rule {signal.kind}"
    if portal:
        return "unrecognised", (
            "portal mail that matched no rule (the poller keeps it for `recoup mail reclassify`)"
        )
    return "not_portal", "not the portal's mail: ignored"


def _effects(signal: MailSignal | None, cases: list[OpenCaseRef], settings: Settings) -> list[dict[str, Any]]:
    if signal is None or signal.kind in NO_EFFECT:
        return []
    out: list[dict[str, Any]] = []
    for case in cases:
        if case.order_id not in signal.order_ids:
            continue
        hint = outcome_for(signal.kind, case.kind)
        trusted = case.account in settings.trust_mail_accounts
        out.append(
            {
                "case_id": case.id,
                "account": case.account,
                "order_id": case.order_id,
                "kind": case.kind.value,
                "state": case.state.value,
                "status_check": True,
                "hint": hint.value if hint else None,
                "may_move_to": hint.value if hint and trusted else None,
            }
        )
    return out


def _store_for(settings: Settings) -> tuple[Store | None, str | None]:
    """The existing store (never created or migrated here), or None and why."""
    if settings.database_url is None and not (settings.data_dir / "recoup.db").exists():
        return None, "no store in the data folder: effects on cases not shown"
    try:
        return Store.open(settings.resolved_database_url, migrate=False), None
    except RecoupError as exc:
        return None, f"store not readable ({exc}): effects on cases not shown"


def _classify_one(
    path: Path, classifier: MailClassifier, rules: frozenset[str], store: Store | None, settings: Settings
) -> dict[str, Any]:
    raw = _read_eml(path)
    message = parse_message(raw, uid=0)
    if message is None:
        raise InputError(f"{path}: not a mail (empty or unreadable)")
    accepted, why = _sender_verdict(classifier, message)
    try:
        signal = classifier.classify(message)
    except Exception as exc:  # the classifier promises not to raise; say so if it did
        raise InputError(f"{path}: could not be classified ({type(exc).__name__})") from None
    kind, meaning = _reading(rules, signal, accepted)
    ids = (
        signal.order_ids
        if signal is not None
        else order_ids_seen(message.subject, message.text, message.links)
    )
    cases: list[OpenCaseRef] = []
    if store is not None and signal is not None and signal.order_ids:
        cases = store.unrecognised.open_cases(signal.order_ids)
    date = message.date
    return {
        "file": str(path),
        "sender": message.sender,
        "sender_name": message.sender_name,
        "accepted": accepted,
        "why": why,
        "subject": message.subject,
        "date": date.isoformat() if date else None,
        "message_id": message.message_id,
        "order_ids": list(ids),
        "order_ids_from": "pack" if signal is not None else "seen",
        "kind": kind,
        "reads_as": meaning,
        "auth": message.auth.as_detail() if message.auth is not None else None,
        "truncated": message.truncated or len(raw) > MAX_RAW_BYTES,
        "excerpt": excerpt_of(message.text),
        "effects": _effects(signal, cases, settings),
    }


@app.command("classify")
def classify(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Saved mails (.eml), read only.")],
    as_json: JsonOpt = False,
) -> None:
    """Show what Recoup reads from saved mails: sender accepted and why, order ids, event, effect."""
    with opening(ctx, as_json, store=None) as cmd:
        out, settings = cmd.out, cmd.settings
        pack: Pack = PackRegistry(settings).default
        rules_spec = pack.model.email
        classifier = MailClassifier(rules_spec)
        rules = frozenset(rule.event for rule in rules_spec.rules)
        store, no_store = _store_for(settings)
        results: list[dict[str, Any]] = []
        try:
            for path in files:
                try:
                    results.append(_classify_one(path, classifier, rules, store, settings))
                except InputError as error:
                    results.append({"file": str(path), "error": str(error)})
        finally:
            if store is not None:
                store.close()
        bad = sum(1 for r in results if "error" in r)
        payload = {"files": results, "bad_files": bad, "store": no_store or "read"}

        def human() -> None:
            c = out.console
            for r in results:
                c.print(line(shown(str(r["file"]), "bold")))
                if "error" in r:
                    c.print(line("  ", shown("error", "bold red"), ": ", r["error"]))
                    continue
                who = r["sender"] or "(none)"
                name = f" ({r['sender_name']})" if r["sender_name"] else ""
                c.print(line("  from: ", who, name))
                c.print(line(f"  accepted as the portal's: {'yes' if r['accepted'] else 'no'} — ", r["why"]))
                c.print(line("  subject: ", r["subject"] or "(no subject)"))
                c.print(line("  date: ", r["date"] or "-"))
                c.print(
                    line(
                        "  order ids: ",
                        ", ".join(r["order_ids"]) or "-",
                        " (read by the pack)"
                        if r["order_ids_from"] == "pack"
                        else " (id-shaped numbers seen; no rule read them)",
                    )
                )
                c.print(line("  reads as: ", r["kind"], " — ", r["reads_as"]))
                if r["truncated"]:
                    c.print(line("  note: the mail is larger than Recoup reads; only its start was read"))
                if no_store:
                    c.print(line("  effect: ", no_store))
                elif not r["effects"]:
                    c.print(line("  effect: no open case would get a status check"))
                for e in r["effects"]:
                    hint = f", hint {e['hint']}" if e["hint"] else ""
                    move = f"; may move to {e['may_move_to']} (trusted account)" if e["may_move_to"] else ""
                    c.print(
                        line(
                            f"  effect: case {e['case_id']} ({e['account']}, {e['kind']}, {e['state']}) "
                            f"gets a status check{hint}{move}"
                        )
                    )
            if bad:
                out.err.print(line(shown("error", "bold red"), f": {bad} file(s) could not be read as mail"))

        out.data(payload, human)
        if bad:
            raise typer.Exit(int(ExitCode.BAD_INPUT))
