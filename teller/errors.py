"""User-facing errors: every one says what went wrong, where, and how to fix it."""

from __future__ import annotations


class TellerError(Exception):
    """An error a user can act on; the CLI prints it without a stack trace."""

    def __init__(self, what: str, where: str | None = None, fix: str | None = None) -> None:
        self.what, self.where, self.fix = what, where, fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [f"{self.where}: {self.what}" if self.where else self.what]
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        return "\n".join(parts)


class DataError(TellerError):
    """A data file that cannot be read as the format it claims to be."""


class BundleError(TellerError):
    """A model bundle that is missing, incomplete or incompatible."""
