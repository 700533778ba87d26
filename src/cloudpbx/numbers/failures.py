"""Refusals of the number manager, shaped as KAZOO's number errors so clients can show `code - error: message`."""

from __future__ import annotations

from cloudpbx.errors import Failure, Forbidden, Invalid, Missing


class NumberFailure(Failure):
    """A number operation that cannot be done; data carries `code`, `error`, `message` and the number as `cause`."""

    def __init__(self, code: int, error: str, message: str, number: str | None = None):
        data = {"code": code, "error": error, "message": message}
        if number is not None:
            data["cause"] = number
        super().__init__(data, error)
        self.code = code


def not_found(number: str) -> Missing:
    """Crossbar says the same whether the number does not exist or belongs to someone the caller cannot see."""
    missing = Missing(number)
    missing.data = {"message": "bad identifier", "not_found": "The number could not be found", "cause": number}
    return missing


def not_reconcilable(number: str) -> NumberFailure:
    return NumberFailure(400, "not_reconcilable", f"number {number} is not reconcilable", number)


def exists(number: str) -> NumberFailure:
    return NumberFailure(409, "number_exists", f"number {number} already exists", number)


def no_change(number: str) -> NumberFailure:
    return NumberFailure(400, "no_change_required", "no change required", number)


def bad_transition(number: str, old: str, new: str) -> NumberFailure:
    return NumberFailure(400, "invalid_state_transition", f"from {old} to {new}", number)


def in_use(number: str, used_by: str) -> NumberFailure:
    return NumberFailure(409, "number_in_use", f"number {number} is used by {used_by}; free it first", number)


def not_allowed(number: str, message: str) -> Forbidden:
    return Forbidden({"message": message, "cause": number})


def as_entry(failure: Failure, number: str) -> dict:
    """One number's failure inside a collection reply."""
    if isinstance(failure, NumberFailure):
        return failure.data
    entry = {"code": failure.code, "error": failure.message, "cause": number}
    if isinstance(failure, Missing):
        entry.update(error="not_found", message="The number could not be found")
    elif isinstance(failure, Invalid):
        entry.update(message="invalid data", data=failure.data)
    else:
        detail = failure.data if isinstance(failure.data, dict) else {}
        entry["message"] = detail.get("message", failure.message)
    return entry
