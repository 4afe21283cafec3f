"""The base of every configuration section, and the one hash of settings that Cradle records.

Kept apart from `stages.config` so that each stage's config module can import it without a cycle.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict


def settings_hash(data: Any) -> str:
    """A short, stable hash of JSON-able settings: equal values, equal hash, on any machine."""
    canonical = json.dumps(data, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class ConfigSection(BaseModel):
    """A frozen configuration section; unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def settings_hash(self) -> str:
        """The hash the ledger records with every result this section's stage gives."""
        return settings_hash(self.model_dump(mode="json"))
