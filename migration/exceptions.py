"""Errors of the migration engine: one base class, short leaf classes.

The CLI maps each leaf to a one-line message and an exit code (see `exit_codes`).
"""

from __future__ import annotations


class MigrationError(Exception):
    """Base class for every error the migration engine raises on purpose."""


class PlanError(MigrationError):
    """A plan that cannot run: bad steps, all-zero weights, unreadable file."""


class LockHeldError(MigrationError):
    """Another run holds the stack's lease."""


class StoodDownError(MigrationError):
    """This run stopped without touching traffic: someone else now decides (exit 6)."""


class LeaseLostError(StoodDownError):
    """Another run or an operator took this run's lease over (its fencing token moved on)."""


class WeightsChangedError(StoodDownError):
    """Route 53 no longer shows the weights this run last set: someone else moved traffic."""


class AbortedError(MigrationError):
    """The migration was rolled back and stays aborted until `soundbite migrate retry`."""


class AbortedUnderRunError(StoodDownError):
    """The migration was aborted while this run held it: its writes are refused, it stands down."""


class ProviderError(MigrationError):
    """A metrics, alarm or health read failed: recorded as an `error` measurement."""


class DriftError(MigrationError):
    """Live Route 53 weights differ from what the ledger or the config says they should be."""


class RouterError(MigrationError):
    """Route 53 (or Pulumi) did not accept or did not show the requested weights."""


class ConfigError(MigrationError):
    """The target description (zone, record, stack config file) is missing or invalid."""


class ApprovalRequiredError(MigrationError):
    """The next step needs a person to run `soundbite migrate approve` first."""
