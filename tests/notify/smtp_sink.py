"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives, refuses on request (451, as a relay
that is busy) and can hold a message at DATA until told to go on, for tests of the platform's email."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

from aiosmtpd.controller import Controller

from tests.conftest import free_port


def address(name: str) -> str:
    """An email address no other test uses."""
    return f"{name}.{secrets.token_hex(4)}@example.test"


@dataclass
class Received:
    recipients: list[str]
    mail: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.mail["Subject"])

    @property
    def date(self) -> int:
        """The Date header in Unix seconds."""
        return int(parsedate_to_datetime(str(self.mail["Date"])).timestamp())

    @property
    def text(self) -> str:
        body = self.mail.get_body(("plain",))
        return body.get_content() if body is not None else ""

    @property
    def html(self) -> str:
        body = self.mail.get_body(("html",))
        return body.get_content() if body is not None else ""


class Sink:
    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.refusals = 0  # the next this many messages are answered 451
        self.hold_for: str | None = None  # a recipient whose messages wait at DATA until `release`
        self.holding = threading.Event()
        self.released = threading.Event()
        self._lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.hold_for is not None and self.hold_for in envelope.rcpt_tos:
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.released.wait, 60)
            return "451 4.3.0 held by the test"
        with self._lock:
            if self.refusals > 0:
                self.refusals -= 1
                return "451 4.3.0 Try again later"
            mail = message_from_bytes(envelope.content, policy=policy.default)
            self.messages.append(Received(list(envelope.rcpt_tos), mail))  # type: ignore[arg-type]
        return "250 2.0.0 OK queued"

    def to(self, address: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if address in m.recipients]

    def wait_for(self, address: str, count: int = 1, timeout: float = 30.0) -> list[Received]:
        """The messages to `address` once there are `count` of them (bounded wait)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{len(self.to(address))} messages to {address}, expected {count}")
