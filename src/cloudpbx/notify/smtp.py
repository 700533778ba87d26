"""Sending one email through the SMTP relay of system config `smtp_client` (KAZOO's keys): `relay` ("localhost"),
`port` (25, or 465 with `ssl`), `username`/`password` (AUTH when given), `tls` ("if_available": STARTTLS when the
server offers it; "always": required; "never"), `ssl` (TLS from the first byte), `timeout_s` (30),
`verify_certificates` (true)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from cloudpbx.store import SYSTEM, Store

CONFIG = "smtp_client"
STARTTLS = {"never": False, "always": True, "if_available": None}


@dataclass(frozen=True)
class Relay:
    host: str = "localhost"
    port: int = 25
    username: str | None = None
    password: str | None = None
    tls: str = "if_available"
    ssl: bool = False
    timeout_s: float = 30.0
    verify: bool = True


class Refused(Exception):
    """The relay refused the message for good (5xx): retrying would not help."""


class Unreachable(Exception):
    """The relay could not take the message now (4xx, a network failure, a timeout): retry later."""


def _text(value: Any, default: str | None) -> str | None:
    return value if isinstance(value, str) and value else default


async def relay(store: Store) -> Relay:
    doc = await store.find(SYSTEM, CONFIG) or {}
    config = {**doc, **(doc.get("default") or {})}  # KAZOO keeps settings under `default`; top-level keys too
    tls = config["tls"] if config.get("tls") in STARTTLS else "if_available"
    implicit = config.get("ssl") is True
    port = config.get("port")
    timeout = config.get("timeout_s")
    return Relay(
        host=_text(config.get("relay"), "localhost") or "localhost",
        port=port if isinstance(port, int) and 0 < port < 65536 else (465 if implicit else 25),
        username=_text(config.get("username"), None),
        password=_text(config.get("password"), None),
        tls=tls,
        ssl=implicit,
        timeout_s=float(timeout) if isinstance(timeout, int | float) and 0 < timeout <= 300 else 30.0,
        verify=config.get("verify_certificates") is not False,
    )


async def deliver(via: Relay, message: EmailMessage, recipients: list[str]) -> str:
    """Hand the message to the relay; the relay's answer (its receipt). Raises Refused or Unreachable."""
    try:
        _, answer = await aiosmtplib.send(
            message,
            recipients=recipients,
            hostname=via.host,
            port=via.port,
            username=via.username,
            password=via.password,
            use_tls=via.ssl,
            start_tls=False if via.ssl else STARTTLS[via.tls],
            timeout=via.timeout_s,
            validate_certs=via.verify,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        raise Refused(f"every recipient refused: {exc}") from None
    except aiosmtplib.SMTPResponseException as exc:
        if 500 <= exc.code < 600 and not isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            raise Refused(f"{exc.code} {exc.message}") from None
        raise Unreachable(f"{exc.code} {exc.message}") from None
    except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as exc:
        raise Unreachable(f"{type(exc).__name__}: {exc}") from None
    return answer
