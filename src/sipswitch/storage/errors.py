"""Storage errors. Not found and not yours are the same error, so no one learns what exists."""

from __future__ import annotations


class StorageError(Exception):
    """Base of the errors repositories raise on purpose."""


class NotFoundError(StorageError, LookupError):
    """No such object visible to the acting owner (missing or someone else's)."""


class ConflictError(StorageError):
    """A uniqueness rule would be broken (the name is taken)."""


class InvalidValueError(StorageError, ValueError):
    """A value was refused before it reached the database; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
