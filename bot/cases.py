"""THE way cases come into being: :func:`create_case` (the CLI and the tests use it) and
:func:`approve_case` for approve-first mode.

`create_case` promises all or nothing: the input is validated (order id, amount, account,
evidence files against the portal's limits, the dispute-share cap) before anything is written;
then, in ONE store transaction, the case row is inserted, the operator's evidence files are
copied into the case's input folder (`<evidence_dir>/case-<id>/input/`, sha256 taken while
copying and recorded in the `evidence` table) and the `created` event is written with the
dry-run and approve-first flags. Any failure raises a typed :class:`bot.errors.InputError`
(or StoreUnavailableError) and leaves no case row, no event and no folder.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loguru import logger

from bot.atomic import atomic_copy
from bot.config import Settings
from bot.errors import EvidenceError, InputError
from bot.evidence_input import check_evidence_with_settings
from bot.models import Case, NewCase, NewEvidence
from bot.policies import dispute_share_guard
from bot.states import CaseState
from bot.store import Store
from flows.registry import PackRegistry

INPUT_FOLDER = "input"
"""Sub-folder of a case folder holding the operator's evidence files (what gets uploaded)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def case_folder(settings: Settings, case_id: int) -> Path:
    """The case's evidence folder (the engine writes screenshots, HTML and the manifest there)."""
    return (settings.evidence_dir / f"case-{case_id}").resolve()


def create_case(
    store: Store,
    settings: Settings,
    new: NewCase | Mapping[str, Any],
    *,
    evidence: Sequence[Path] = (),
    evidence_root: Path | None = None,
    approve_first: bool | None = None,
) -> Case:
    """Validate and create a case; return it (queued, or awaiting_approval in approve-first mode).

    `new` is a :class:`NewCase` or raw input (validated by :meth:`NewCase.parse`); it may not
    name an evidence folder itself. `evidence` files must pass
    :func:`bot.evidence_input.check_evidence_with_settings` (the types and limits of the
    account's portal pack; PackError for a bad pack) and lie inside `evidence_root`
    (default `settings.evidence_input_dir`; None: anywhere). `approve_first` overrides the
    setting. Raises InvalidOrderIdError, AmountError, UnknownAccountError, EvidenceError,
    DuplicateCaseError, DisputeShareError (all InputError; nothing written) or
    StoreUnavailableError.
    """
    case = NewCase.parse(new) if isinstance(new, Mapping) else new
    if case.evidence_folder is not None:
        raise InputError("the evidence folder is chosen by Recoup; give the evidence files instead")
    account = store.accounts.get(case.account)  # UnknownAccountError before touching any file
    root = evidence_root if evidence_root is not None else settings.evidence_input_dir
    files: list[Path] = []
    if evidence:  # the portal's own rule (the pack is loaded only when there are files to check)
        rules = PackRegistry(settings).for_account(account).model.evidence
        files = check_evidence_with_settings(list(evidence), settings, rules, allowed_root=root)
    existing = store.cases.find(case.account, case.order_id, case.kind)
    if existing is not None:
        raise store.intake._duplicate(case, existing.id)
    waits = settings.approve_first if approve_first is None else approve_first
    copier = _Copier(settings, files, store)
    try:
        created = store.intake.create_with(
            case,
            initial_state=CaseState.AWAITING_APPROVAL if waits else CaseState.QUEUED,
            created_detail={"dry_run": settings.dry_run, "approve_first": waits},
            guard=dispute_share_guard(settings),
            materialize=copier if files else None,
        )
    except BaseException:
        copier.remove()
        raise
    logger.info(
        "case {} created: {} of order {} on {} ({} evidence files{})",
        created.id, created.kind.value, created.order_id, created.account, len(files),
        ", awaiting approval" if waits else "",
    )  # fmt: skip
    return created


def approve_case(store: Store, case_id: int, *, operator: str | None = None) -> Case:
    """Let an approve-first case run: awaiting_approval → queued (event `approved_by_operator`).

    Raises UnknownCaseError, or StaleStateError when the case is not awaiting approval.
    """
    detail = {"operator": operator} if operator else {}
    return store.cases.transition(
        case_id,
        CaseState.QUEUED,
        expected_from=CaseState.AWAITING_APPROVAL,
        kind="approved_by_operator",
        detail=detail,
    )


class _Copier:
    """Copies the checked files into the new case's input folder; remembers what to remove."""

    def __init__(self, settings: Settings, files: Sequence[Path], store: Store) -> None:
        self._settings = settings
        self._files = list(files)
        self._store = store
        self._made: list[Path] = []

    def __call__(self, case_id: int) -> tuple[str | None, list[NewEvidence]]:
        case_dir = case_folder(self._settings, case_id)
        folder = case_dir / INPUT_FOLDER
        if folder.exists():  # left by a crashed process whose insert was rolled back
            logger.warning("case {}: removing a stale input folder left by an earlier crash", case_id)
            shutil.rmtree(folder)
        if not case_dir.exists():
            self._made.append(case_dir)
        folder.mkdir(parents=True)
        self._made.append(folder)
        records: list[NewEvidence] = []
        names: set[str] = set()
        for index, source in enumerate(self._files, start=1):
            name = _safe_name(source, index, names)
            try:
                digest = atomic_copy(source, folder / name)
            except OSError as error:
                raise EvidenceError(
                    f"evidence file {source} could not be copied: {error.strerror or error}", path=str(source)
                ) from error
            records.append(
                NewEvidence(
                    path=f"{INPUT_FOLDER}/{name}",
                    sha256=digest,
                    kind="upload",
                    step="input",
                    captured_at=self._store.clock(),
                )
            )
        return str(folder), records

    def remove(self) -> None:
        """Undo: remove the folders this copier created (innermost first)."""
        for path in reversed(self._made):
            with contextlib.suppress(FileNotFoundError):
                if path.name == INPUT_FOLDER:
                    shutil.rmtree(path)
                else:
                    path.rmdir()  # only when empty: never remove someone else's files


def _safe_name(source: Path, index: int, taken: set[str]) -> str:
    stem = _UNSAFE.sub("-", source.stem).strip("-.")[:60] or "file"
    name = f"{stem}{source.suffix.lower()}"
    if name in taken:
        name = f"{index:02d}-{name}"
    taken.add(name)
    return name
