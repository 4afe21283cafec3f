"""Cradle's exceptions: programming and environment errors, never per-clip verdicts.

Per-clip problems are values (a `StageResult` with a `ReasonCode`); these are raised for what a
person must fix: bad configuration, a ledger that cannot be opened, missing model weights.
"""


class CradleError(Exception):
    """Base class of everything Cradle raises on purpose."""


class ConfigError(CradleError):
    """The configuration (cradle.yaml or CRADLE_* variables) is invalid."""


class LedgerError(CradleError):
    """The ledger cannot be opened, migrated or written as asked."""


class TransientLedgerError(LedgerError):
    """The ledger stayed locked or its database could not be reached: the same call may pass later.

    Its own class so that retry policies (the flows' batch tasks) can tell it from a write that is
    simply wrong, which no retry will mend.
    """


class RunStopped(CradleError):
    """A run stopped early on purpose: every download failed the same way (no network, a bot
    wall), so going on would only publish an empty dataset version. The ledger run ends `failed`.
    """
