"""Brokers' answers to the authority: REVIEWANSWER (to a 300) and INSPECTIONRECORD (to a 500)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from services.customs.messages.facts import Declarant
from services.customs.messages.postal import filer, validated
from shared.ceb.json_messages import InspectionRecord, ReviewAnswer


def build_review_answer(*, guid: str, declaration_id: str, answers_guid: str, explanation: str,
                        documents: Sequence[dict[str, str]] = (), answered_by: str, app_time: datetime,
                        declarant: Declarant) -> ReviewAnswer:
    """The answer to the manual review of the filing `answers_guid`: an explanation and document references
    (each {"kind", "reference", "description"?})."""
    return validated(ReviewAnswer, {
        "guid": guid, "cop_no": declaration_id, "app_time": app_time, "filer": filer(declarant),
        "answers_guid": answers_guid, "explanation": explanation, "documents": list(documents),
        "answered_by": answered_by,
    })


def build_inspection_record(*, guid: str, declaration_id: str, answers_guid: str, attended_by: str,
                            attended_at: datetime, outcome: Literal["passed", "failed"], note: str | None = None,
                            app_time: datetime, declarant: Declarant) -> InspectionRecord:
    """The record of the inspection of the filing `answers_guid`."""
    return validated(InspectionRecord, {
        "guid": guid, "cop_no": declaration_id, "app_time": app_time, "filer": filer(declarant),
        "answers_guid": answers_guid, "attended_by": attended_by, "attended_at": attended_at, "outcome": outcome,
        "note": note,
    })
