"""Evidence records: which file in a case folder holds what, with its sha256."""

from __future__ import annotations

from sqlalchemy import exc, select

from bot.errors import EvidenceError, InputError
from bot.models import EvidenceItem, NewEvidence
from bot.store._base import RepoBase
from bot.store._convert import evidence_from_row
from bot.store._tables import EvidenceRow


class EvidenceRepository(RepoBase):
    """Record and list evidence files. Writing the files is `bot.evidence`'s job."""

    def add(self, case_id: int, item: NewEvidence) -> EvidenceItem:
        """Record a file already written into the case folder.

        Raises UnknownCaseError for an unknown case and EvidenceError when the case already has
        a record for that path (files are written once; a new capture gets a new name).
        """
        with self._tx("recording evidence") as session:
            self._load_case(session, case_id)
        try:
            with self._tx("recording evidence") as session:
                row = EvidenceRow(case_id=case_id, **item.model_dump())
                session.add(row)
                session.flush()
                return evidence_from_row(row)
        except InputError as error:
            if isinstance(error.__cause__, exc.IntegrityError):
                raise EvidenceError(
                    f"case {case_id} already has evidence at {item.path}", path=item.path
                ) from error
            raise

    def list_for(self, case_id: int) -> list[EvidenceItem]:
        """The case's evidence records in capture order."""
        with self._tx("listing evidence") as session:
            rows = session.execute(
                select(EvidenceRow)
                .where(EvidenceRow.case_id == case_id)
                .order_by(EvidenceRow.captured_at, EvidenceRow.id)
            ).scalars()
            return [evidence_from_row(row) for row in rows]
