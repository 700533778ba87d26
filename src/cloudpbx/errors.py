"""Failures the domain services raise, named as Crossbar names them so every front end reports them alike."""

from __future__ import annotations

from typing import Any


class Failure(Exception):
    """A request the platform refuses: `code` is the HTTP-style status, `message` Crossbar's error atom."""

    code = 500
    message = "internal_error"

    def __init__(self, data: Any = None, message: str | None = None):
        super().__init__(message or self.message)
        self.data = data if data is not None else {}
        if message:
            self.message = message


class Invalid(Failure):
    """400 `validation error`: data is keyed by field path, then by the rule that failed."""

    code = 400
    message = "validation error"

    @classmethod
    def field(cls, path: str, rule: str, message: str, **detail: Any) -> Invalid:
        return cls({path: {rule: {"message": message, **detail}}})


class Forbidden(Failure):
    code = 403
    message = "forbidden"


class Missing(Failure):
    """404 `bad_identifier`: the document does not exist, was deleted, or is not the caller's to see."""

    code = 404
    message = "bad_identifier"

    def __init__(self, ident: str):
        super().__init__({"cause": ident, "message": "bad identifier"})


class Conflicting(Failure):
    code = 409
    message = "datastore_conflict"

    def __init__(self, data: Any = None, message: str | None = None):
        super().__init__(data or {"message": "conflicting documents"}, message)


class HasDescendants(Failure):
    code = 500
    message = "account_has_descendants"


class Unauthorized(Failure):
    """401: no credentials, or credentials that are wrong, expired or revoked."""

    code = 401
    message = "invalid_credentials"

    def __init__(self, data=None):
        super().__init__(data or {"message": "invalid credentials"})


class TooLarge(Failure):
    """413: the request body, or the file in it, is bigger than allowed."""

    code = 413
    message = "request_entity_too_large"


class UnsupportedType(Failure):
    """415: the body's content type is not one this resource accepts."""

    code = 415
    message = "unsupported_media_type"


class NotFoundPath(Failure):
    """404 `not_found`: no such endpoint or sub-resource."""

    code = 404
    message = "not_found"


class Throttled(Failure):
    """429: too many requests, or too many failed logins; `retry_after` seconds go out as `Retry-After`."""

    code = 429
    message = "too_many_requests"

    def __init__(self, data=None, retry_after: int = 1):
        super().__init__(data)
        self.retry_after = max(1, int(retry_after))
