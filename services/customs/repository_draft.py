"""The repository as the filing of a new declaration sees it: the declaration's own writes held until it is decided."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.customs.models import AuditEntry, Declaration, Document, FindingRecord, Message
from services.customs.repository import DeclarationRepository, DocumentBody, finding_rows
from services.customs.repository_batch import kept_document
from shared.batch import insert_rows
from shared.contract.events import Finding

_documents = Document.__table__
_findings = FindingRecord.__table__
_audit = AuditEntry.__table__
_messages = Message.__table__


class DraftRepository(DeclarationRepository):
    """The repository as the filing of a new declaration sees it: reads go to the database, while the new
    declaration's own writes (the row, its lines, documents, audit entries, findings) are held until `write`
    puts them in, one insert per table, with the declaration as it was decided.

    Nobody can see the declaration before this transaction commits, so no concurrent change can come between its
    reading and its writing: `change` only applies the values to the object.
    """

    def __init__(self, session: AsyncSession, declaration: Declaration, lines: Sequence[Mapping[str, Any]], *,
                 documents_came_first: bool) -> None:
        super().__init__(session)
        self.declaration = declaration
        self._lines = list(lines)
        self._documents: list[dict[str, Any]] = []
        self._audit: list[dict[str, Any]] = []
        self._findings: list[dict[str, Any]] = []
        self._messages: list[dict[str, Any]] = []
        self._documents_came_first = documents_came_first

    async def change(self, declaration: Declaration, **values: Any) -> bool:
        if declaration is not self.declaration:
            return await super().change(declaration, **values)
        values["version"] = declaration.version + 1
        for name, value in values.items():
            setattr(declaration, name, value)
        return True

    async def add_document(self, document: Mapping[str, Any]) -> None:
        self._documents.append(dict(document))

    async def append_audit(self, entry: Mapping[str, Any]) -> None:
        self._audit.append(dict(entry))

    async def add_findings(self, declaration_id: str, findings: Sequence[Finding], *, source: str,
                           now: datetime) -> None:
        self._findings += finding_rows(declaration_id, findings, source=source, now=now)

    async def add_messages(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self._messages += [dict(row) for row in rows]

    async def match_documents(self, order_id: str) -> list[DocumentBody]:
        """The documents that came before the order (from the database, only if there are any), then its own."""
        earlier = await super().match_documents(order_id) if self._documents_came_first else []
        return earlier + [DocumentBody(d["kind"], d["source"], d["body"]) for d in self._documents]

    async def write(self) -> None:
        """Insert the declaration and everything held for it (inside a consumer batch: with the batch's rows)."""
        await self.insert_declaration(self.declaration, self._lines)
        for document in self._documents:
            kept_document(self.session, document)
        for table, rows in ((_documents, self._documents), (_audit, self._audit), (_findings, self._findings),
                            (_messages, self._messages)):
            await insert_rows(self.session, table, rows)
