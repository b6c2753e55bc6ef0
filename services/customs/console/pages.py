"""What the console's pages show, read through the same use cases as the API (brokers.declaration_detail,
queue.search_queue) and arranged for a person: masked parties, documents side by side, the actions on offer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.customs import brokers, queue
from services.customs.console.actions import ActionPanel, action_panel
from services.customs.console.documents import DocumentComparison, compare_documents
from services.customs.console.masking import mask_party
from services.customs.console.messages import MessageView, declaration_messages
from services.customs.console.personal_data import revealed_in_session
from services.customs.console.sessions import BrokerSession
from services.customs.domain.status import is_final
from services.customs.repository import DeclarationRepository
from services.customs.repository_search import QueueSearchRepository
from services.customs.schemas import AuditEntryView, DeclarationDetail
from services.customs.service import CustomsConfig

PARTY_ROLES = ("sender", "consignee", "buyer")


@dataclass(frozen=True)
class PartyView:
    role: str
    fields: dict[str, Any]  # masked unless revealed


@dataclass(frozen=True)
class DeclarationPage:
    detail: DeclarationDetail
    row: queue.QueueRow
    held_by_me: bool
    held_by: str | None  # another broker holding the claim (the page is read-only then)
    panel: ActionPanel
    parcel: dict[str, Any]
    parties: list[PartyView]
    comparison: DocumentComparison
    messages: list[MessageView]
    revealed: AuditEntryView | None
    previous_id: str | None
    next_id: str | None

    @property
    def read_only(self) -> bool:
        return self.held_by is not None or is_final(self.detail.status)


async def declaration_page(session: Any, config: CustomsConfig, *, declaration_id: str, broker: BrokerSession,
                           filters: queue.QueueFilters, queue_deadline: timedelta) -> DeclarationPage:
    """Everything the declaration page shows, for this broker."""
    repo = DeclarationRepository(session)
    detail = await brokers.declaration_detail(repo, config, declaration_id)
    declaration = await brokers.get_declaration(repo, declaration_id)  # already in the session: no second query
    now = config.now()
    claim = detail.claim
    held_by_me = claim is not None and claim.broker == broker.broker
    held_by = claim.broker if claim is not None and not held_by_me else None
    revealed = revealed_in_session(detail.history, broker)
    reveal = revealed is not None
    parcel = {key: value for key, value in detail.parcel.items()
              if key not in (*PARTY_ROLES, "lines", "payment")}
    parties = [PartyView(role, party if reveal else mask_party(party))
               for role in PARTY_ROLES if (party := detail.parcel.get(role))]
    previous_id, next_id = await queue.neighbours(QueueSearchRepository(session), config, filters=filters,
                                                  broker=broker.broker, declaration=declaration)
    return DeclarationPage(
        detail=detail, row=queue.queue_row(declaration, now=now, queue_deadline=queue_deadline),
        held_by_me=held_by_me, held_by=held_by,
        panel=action_panel(detail.allowed_actions, final=is_final(detail.status), held_by_me=held_by_me,
                           held_by_other=held_by is not None),
        parcel=parcel, parties=parties,
        comparison=compare_documents(declaration, detail.documents, detail.findings, config, reveal=reveal),
        messages=await declaration_messages(session, declaration_id),
        revealed=revealed, previous_id=previous_id, next_id=next_id,
    )
