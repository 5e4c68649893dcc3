"""One hierarchy for every error a user can cause.

Each error carries a message that names *where* (file, field) and *what to do*.
Code deep inside the package raises these instead of letting h5py, torch or
numpy tracebacks reach the user.
"""

from __future__ import annotations

__all__ = [
    "WorkbenchError",
    "DatasetError",
    "ConfigError",
    "CollectionError",
    "DiagnosticsError",
    "TrainingError",
    "OPEError",
]


class WorkbenchError(Exception):
    """Base class of every error the workbench raises on purpose."""


class DatasetError(WorkbenchError, ValueError):
    """A dataset (file, array or catalog name) is missing, malformed or unsupported.

    Attributes:
        source: the file, directory or name the problem was found in (may be ``None``).
        field: the key/column/array concerned (may be ``None``).
        fix: what the user can do about it (may be ``None``).
    """

    def __init__(self, problem: str, *, source: object = None, field: str | None = None,
                 fix: str | None = None) -> None:
        self.problem = problem
        self.source = None if source is None else str(source)
        self.field = field
        self.fix = fix
        parts = []
        if self.source:
            parts.append(f"{self.source}:")
        if field:
            parts.append(f"field '{field}':")
        parts.append(problem.rstrip("."))
        msg = " ".join(parts) + "."
        if fix:
            msg += f" Fix: {fix.rstrip('.')}."
        super().__init__(msg)


class ConfigError(WorkbenchError, ValueError):
    """An argument or configuration value is invalid (unknown name, bad range, mismatch)."""


class CollectionError(WorkbenchError, RuntimeError):
    """Generating a dataset from an environment failed (unknown env, bad policy output)."""


class DiagnosticsError(WorkbenchError, ValueError):
    """Diagnostics cannot be computed for the given dataset/reference combination."""


class TrainingError(WorkbenchError, RuntimeError):
    """A training job could not be started or failed."""


class OPEError(WorkbenchError, ValueError):
    """Off-policy evaluation inputs are inconsistent or invalid."""
