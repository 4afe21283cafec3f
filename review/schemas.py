"""What requests may carry: clip ids, queue filters and decision forms, checked before use.

A value outside these shapes is refused with 422 before any handler runs; a well-formed clip id
that the ledger does not know gets 404. Nothing from a request ever becomes a file path.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, Field, model_validator

from manifests.ledger import Decision
from manifests.outcomes import ReasonCode
from review.queue import QueueFilters

# Cradle's clip ids: letters, digits, '.', '_' and '-', never starting with a dot or dash.
CLIP_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
# AudioSet MIDs, e.g. /m/0463cq4 or /t/dd00002.
LABEL_PATTERN = r"^/[a-z]{1,3}/[A-Za-z0-9_]{1,40}$"
Stage = Literal["download", "audio", "faces", "fitting"]
Show = Literal["unreviewed", "reviewed", "all"]

ClipId = Annotated[str, Path(pattern=CLIP_ID_PATTERN)]


class QueueQuery(BaseModel):
    """The queue's filters as query parameters (also carried from page to page)."""

    stage: Stage | None = None
    reason: ReasonCode | None = None
    label: str | None = Field(None, pattern=LABEL_PATTERN)
    since: date | None = None
    until: date | None = None
    show: Show = "unreviewed"
    page: int = Field(1, ge=1, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        """The filter form sends every field; an empty one means "any"."""
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value != ""}
        return data

    def filters(self) -> QueueFilters:
        return QueueFilters(self.stage, self.reason, self.label, self.since, self.until,
                            self.show)

    def params(self, **changes: object) -> dict[str, str]:
        """The non-default filters as query parameters, for links that keep them."""
        data = {**self.model_dump(mode="json", exclude_defaults=True,
                                  include=set(QueueQuery.model_fields)), **changes}
        return {key: str(value) for key, value in data.items() if value not in (None, "")}


class ClipQuery(QueueQuery):
    """A clip page's query: the queue filters it was opened under (for next / previous)."""

    decided: bool = False  # just redirected here after a decision


class StepQuery(QueueQuery):
    after: str = Field(pattern=CLIP_ID_PATTERN)
    direction: Literal["next", "previous"] = "next"


# FastAPI reads a model as query parameters only when it is a route's one query parameter.
QueueParams = Annotated[QueueQuery, Query()]
ClipParams = Annotated[ClipQuery, Query()]
StepParams = Annotated[StepQuery, Query()]


class DecisionForm(BaseModel):
    """A decision as the clip page posts it."""

    decision: Decision
    stage: Stage
    version: str = Field(pattern=r"^\d{1,9}\.\d{1,9}$")  # attempt.reviews, see queue.Verdict
    reason: str | None = Field(None, max_length=60)
    note: str = Field("", max_length=2000)
    csrf_token: str = Field(max_length=200)
