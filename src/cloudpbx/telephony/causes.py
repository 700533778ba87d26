"""Hangup causes (the Q.850 names KAZOO and FreeSWITCH use) and the SIP statuses they map to, both ways.

Callflow failure branches are keyed by cause, so a B leg's final status becomes a cause here; a cause the engine
hangs up with becomes the status the unanswered caller gets.
"""

from __future__ import annotations

NORMAL_CLEARING = "NORMAL_CLEARING"
NO_ANSWER = "NO_ANSWER"
USER_BUSY = "USER_BUSY"
USER_NOT_REGISTERED = "USER_NOT_REGISTERED"
ORIGINATOR_CANCEL = "ORIGINATOR_CANCEL"
LOSE_RACE = "LOSE_RACE"  # a B leg cancelled because another one answered
INCOMPATIBLE_DESTINATION = "INCOMPATIBLE_DESTINATION"
UNALLOCATED_NUMBER = "UNALLOCATED_NUMBER"
NORMAL_TEMPORARY_FAILURE = "NORMAL_TEMPORARY_FAILURE"
RECOVERY_ON_TIMER_EXPIRE = "RECOVERY_ON_TIMER_EXPIRE"  # a leg that never acknowledged its answer
MEDIA_TIMEOUT = "MEDIA_TIMEOUT"
BLIND_TRANSFER = "BLIND_TRANSFER"  # the transferor's leg of a blind transfer (FreeSWITCH's cause)
ATTENDED_TRANSFER = "ATTENDED_TRANSFER"  # the transferor's legs of an attended transfer

CAUSE_OF_STATUS: dict[int, str] = {
    403: "CALL_REJECTED",
    401: "CALL_REJECTED",
    407: "CALL_REJECTED",
    603: "CALL_REJECTED",
    404: UNALLOCATED_NUMBER,
    604: UNALLOCATED_NUMBER,
    410: "NUMBER_CHANGED",
    484: "INVALID_NUMBER_FORMAT",
    408: NO_ANSWER,
    480: NO_ANSWER,
    486: USER_BUSY,
    600: USER_BUSY,
    487: ORIGINATOR_CANCEL,
    488: INCOMPATIBLE_DESTINATION,
    606: INCOMPATIBLE_DESTINATION,
    500: NORMAL_TEMPORARY_FAILURE,
    503: NORMAL_TEMPORARY_FAILURE,
    481: NORMAL_TEMPORARY_FAILURE,
    502: "NETWORK_OUT_OF_ORDER",
    504: RECOVERY_ON_TIMER_EXPIRE,
    501: "FACILITY_REJECTED",
    405: "SERVICE_UNAVAILABLE",
}
STATUS_OF_CAUSE: dict[str, int] = {
    UNALLOCATED_NUMBER: 404,
    "NO_ROUTE_DESTINATION": 404,
    USER_BUSY: 486,
    "NO_USER_RESPONSE": 408,
    NO_ANSWER: 480,
    USER_NOT_REGISTERED: 480,
    "SUBSCRIBER_ABSENT": 480,
    "CALL_REJECTED": 603,
    "NUMBER_CHANGED": 410,
    "INVALID_NUMBER_FORMAT": 484,
    INCOMPATIBLE_DESTINATION: 488,
    ORIGINATOR_CANCEL: 487,
    NORMAL_TEMPORARY_FAILURE: 503,
    "SWITCH_CONGESTION": 503,
    "NETWORK_OUT_OF_ORDER": 502,
    "DESTINATION_OUT_OF_ORDER": 502,
    RECOVERY_ON_TIMER_EXPIRE: 504,
    "FACILITY_REJECTED": 501,
    "OUTGOING_CALL_BARRED": 403,
    "INCOMING_CALL_BARRED": 403,
    "SERVICE_UNAVAILABLE": 405,
}
DEFAULT_STATUS = 480  # what an unanswered caller gets for any other cause (NORMAL_CLEARING included)


def cause_of(status: int) -> str:
    """The cause a final failure status stands for."""
    if status < 300:
        return NORMAL_CLEARING
    return CAUSE_OF_STATUS.get(status) or (
        "CALL_REJECTED" if status >= 600 else NORMAL_TEMPORARY_FAILURE if status >= 500 else "NORMAL_UNSPECIFIED"
    )


def status_of(cause: str) -> int:
    """The final status an unanswered caller gets when the call ends with `cause`."""
    return STATUS_OF_CAUSE.get(cause, DEFAULT_STATUS)
