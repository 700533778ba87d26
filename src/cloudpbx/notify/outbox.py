"""The outbox and delivery log (`notify_outbox`): one row per email, rendered when it was sent. Whichever process
claims a row (one conditional update: queued and due, or sending with an expired claim) hands it to the relay; a
failure the relay may get over puts it back in the queue with a doubling delay, until `MAX_ATTEMPTS`. Rows survive
a restart, so a send interrupted by one is delivered by the retry job of any process."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import orjson
from sqlalchemy import and_, delete, insert, or_, select, update

from cloudpbx.ids import GREGORIAN_OFFSET, random_hex
from cloudpbx.notify import smtp
from cloudpbx.store import Store, Tx, gregorian_now
from cloudpbx.store.tables import notify_outbox

log = logging.getLogger("cloudpbx.notify")
C = notify_outbox.c
QUEUED, SENDING, SENT, FAILED = "queued", "sending", "sent", "failed"
MAX_ATTEMPTS = 8
RETRY_BASE_S = 60  # 1, 2, 4 ... minutes between attempts, at most an hour
RETRY_MAX_S = 3600
KEEP_S = 90 * 86400  # how long the delivery log keeps a finished delivery
CLAIM_S = 120  # longer than the relay's timeout: a claim older than this belongs to a process that died


@dataclass
class Message:
    sender: str
    to: list[str]
    subject: str
    text: str
    html: str | None
    date: int  # Gregorian seconds: the Date header
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    reply_to: str | None = None

    def email(self) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.to)
        if self.cc:
            mail["Cc"] = ", ".join(self.cc)
        if self.reply_to:
            mail["Reply-To"] = self.reply_to
        mail["Subject"] = self.subject
        mail["Date"] = format_datetime(_utc(self.date))
        mail["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        mail.set_content(self.text)
        if self.html:
            mail.add_alternative(self.html, subtype="html")
        return mail


def _utc(gregorian: int) -> datetime:
    return datetime.fromtimestamp(gregorian - GREGORIAN_OFFSET, UTC)


def backoff(attempts: int) -> int:
    return min(RETRY_BASE_S * 2 ** max(attempts - 1, 0), RETRY_MAX_S)


async def enqueue(
    store: Store, account_id: str, template_id: str, message: Message | None, error: str | None = None
) -> str:
    """Store a message to deliver (or, with `error`, the record of one that could not even be rendered)."""
    async with store.write() as tx:
        return await add(tx, account_id, template_id, message, error)


async def add(tx: Tx, account_id: str, template_id: str, message: Message | None, error: str | None = None) -> str:
    """`enqueue` inside the caller's transaction (which may claim something else with it)."""
    now = gregorian_now()
    ident = f"{now:012x}{random_hex(10)}"  # ids sort by creation: the log lists newest first by id
    row = {
        "account_id": account_id,
        "id": ident,
        "template_id": template_id,
        "status": QUEUED if error is None else FAILED,
        "attempts": 0,
        "next_attempt": message.date if message else now,
        "lease_until": 0,
        "message": orjson.dumps(asdict(message) if message else {}).decode(),
        "created": now,
        "error": error,
    }
    await tx.conn.execute(insert(notify_outbox).values(**row))
    return ident


def _key(account_id: str, ident: str):
    return and_(C.account_id == account_id, C.id == ident)


async def _claim(store: Store, account_id: str, ident: str, now: int) -> tuple[Message, int] | None:
    """The message and its attempt number, if this process claimed it (due and unclaimed, or claimed by a process
    that must have died)."""
    clock = gregorian_now()
    async with store.write() as tx:
        claimed = await tx.conn.execute(
            update(notify_outbox)
            .where(
                _key(account_id, ident),
                or_(
                    and_(C.status == QUEUED, C.next_attempt <= now),
                    and_(C.status == SENDING, C.lease_until < clock),
                ),
            )
            .values(status=SENDING, lease_until=clock + CLAIM_S, attempts=C.attempts + 1, last_attempt=now)
        )
        if claimed.rowcount != 1:
            return None
        row = (await tx.conn.execute(select(C.message, C.attempts).where(_key(account_id, ident)))).one()
    return Message(**orjson.loads(row.message)), row.attempts


async def deliver(store: Store, account_id: str, ident: str, now: int | None = None) -> str | None:
    """Try to deliver one message (if it is due and unclaimed); its status afterwards, None if not claimed."""
    now = gregorian_now() if now is None else now
    claimed = await _claim(store, account_id, ident, now)
    if claimed is None:
        return None
    message, attempts = claimed
    values: dict[str, Any]
    try:
        receipt = await smtp.deliver(await smtp.relay(store), message.email(), message.to + message.cc + message.bcc)
        values = {"status": SENT, "receipt": receipt, "error": None}
    except smtp.Refused as exc:
        values = {"status": FAILED, "error": str(exc)}
    except smtp.Unreachable as exc:
        final = attempts >= MAX_ATTEMPTS
        values = {"status": FAILED if final else QUEUED, "error": str(exc), "next_attempt": now + backoff(attempts)}
    if values["status"] != SENT:
        log.warning("notification %s of %s: attempt %d: %s", ident, account_id, attempts, values["error"])
    async with store.write() as tx:
        await tx.conn.execute(
            update(notify_outbox).where(_key(account_id, ident), C.status == SENDING).values(lease_until=0, **values)
        )
    return values["status"]


async def deliver_due(store: Store, now: int | None = None, limit: int = 100) -> int:
    """Deliver what is due at `now` (and what a dead process left claimed); how many were sent. Log rows of
    finished deliveries older than `KEEP_S` are forgotten on the way."""
    now = gregorian_now() if now is None else now
    async with store.write() as tx:
        await tx.conn.execute(
            delete(notify_outbox).where(C.status.in_((SENT, FAILED)), C.created < gregorian_now() - KEEP_S)
        )
    query = (
        select(C.account_id, C.id)
        .where(
            or_(
                and_(C.status == QUEUED, C.next_attempt <= now),
                and_(C.status == SENDING, C.lease_until < gregorian_now()),
            )
        )
        .order_by(C.next_attempt)
        .limit(limit)
    )
    async with store.read() as tx:
        due = [(row.account_id, row.id) for row in await tx.conn.execute(query)]
    return sum([await deliver(store, account_id, ident, now) == SENT for account_id, ident in due])


async def entries(store: Store, account_id: str, start: str | None, limit: int | None) -> list[dict[str, Any]]:
    """The account's delivery log, newest first, from the id `start` (inclusive) on."""
    query = select(notify_outbox).where(C.account_id == account_id)
    if start is not None:
        query = query.where(C.id <= start)
    query = query.order_by(C.id.desc())
    if limit is not None:
        query = query.limit(limit)
    async with store.read() as tx:
        return [view(row) for row in await tx.conn.execute(query)]


async def entry(store: Store, account_id: str, ident: str) -> dict[str, Any] | None:
    async with store.read() as tx:
        row = (await tx.conn.execute(select(notify_outbox).where(_key(account_id, ident)))).first()
    return view(row) if row else None


def view(row) -> dict[str, Any]:
    """A log entry as KAZOO's smtplog shows one: who it went to, its subject, how delivery went."""
    message = orjson.loads(row.message)
    return {
        "id": row.id,
        "template_id": row.template_id,
        "status": row.status,
        "attempts": row.attempts,
        "created": row.created,
        "last_attempt": row.last_attempt,
        "next_attempt": row.next_attempt if row.status == QUEUED else None,
        "subject": message.get("subject"),
        "emails": {
            "from": message.get("sender"),
            "to": message.get("to", []),
            "cc": message.get("cc", []),
            "bcc": message.get("bcc", []),
        },
        "error": row.error,
        "receipt": row.receipt,
    }
