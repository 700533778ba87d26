"""Errors the store raises; the API maps them to Crossbar error envelopes."""


class StoreError(Exception):
    pass


class NotFound(StoreError):
    def __init__(self, doc_id: str):
        super().__init__(doc_id)
        self.doc_id = doc_id


class Conflict(StoreError):
    """The document changed since the caller read it."""


class UniqueViolation(StoreError):
    """A unique key (realm, sip username, number...) is already held by another document."""

    def __init__(self, kind: str, key: str, holder: tuple[str, str] | None = None):
        super().__init__(f"{kind} {key}")
        self.kind = kind
        self.key = key
        self.holder = holder


class BadId(StoreError, ValueError):
    """A document id outside the id grammar (`ids.is_name`): services check ids first, this is the last guard."""


class Unavailable(StoreError):
    """The database cannot be reached."""
