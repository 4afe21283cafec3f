"""The base of every configuration section (kept apart so stage config modules avoid a cycle)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A frozen configuration section; unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")
