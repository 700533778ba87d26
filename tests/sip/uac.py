"""A small raw SIP client for tests: REGISTERs over UDP or TCP sockets, with its own digest arithmetic.

The digest here is written independently of `cloudpbx.sip.digest`, so a mistake on one side shows up as a
failed registration instead of agreeing with itself. Responses are read with the project's parser.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import secrets
import socket
import time

from cloudpbx.sip.message import Response, parse

HOST = "127.0.0.1"
_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
_PARAM = re.compile(r'([A-Za-z-]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')
_loopbacks = itertools.count(2)


def spare_loopback() -> str:
    """Another 127.0.0.x to send from, so that failures counted per source address stay in one test."""
    return f"127.0.0.{next(_loopbacks)}"


def challenges(response: Response, header: str = "WWW-Authenticate") -> dict[str, dict[str, str]]:
    """algorithm → parameters of each Digest challenge in the response."""
    found = {}
    for value in response.get_all(header):
        assert value.startswith("Digest "), value
        params = {
            m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _PARAM.finditer(value)
        }
        found[params.get("algorithm", "MD5").upper()] = params
    return found


def authorization(
    challenge: dict[str, str],
    method: str,
    uri: str,
    username: str,
    password: str,
    *,
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """The Authorization value answering `challenge` with qop=auth."""
    algorithm = challenge.get("algorithm", "MD5").upper()

    def h(text: str) -> str:
        return _HASHES[algorithm](text.encode()).hexdigest()

    realm, nonce, cnonce = challenge["realm"], challenge["nonce"], cnonce or secrets.token_hex(4)
    response = h(f"{h(f'{username}:{realm}:{password}')}:{nonce}:{nc:08x}:{cnonce}:auth:{h(f'{method}:{uri}')}")
    return (
        f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm={algorithm}, qop=auth, nc={nc:08x}, cnonce="{cnonce}"'
    )


class SipSocket:
    """One UDP socket or TCP connection to the server, sending bytes and reading parsed messages."""

    def __init__(self, port: int, transport: str = "udp", bind: str = HOST, bind_port: int = 0):
        self.server = (HOST, port)
        self.transport = transport
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind((bind, bind_port))
        if transport == "tcp":
            self.sock.connect(self.server)
        self.buffer = b""

    @property
    def address(self) -> tuple[str, int]:
        return self.sock.getsockname()

    def send(self, data: bytes) -> None:
        if self.transport == "udp":
            self.sock.sendto(data, self.server)
        else:
            self.sock.sendall(data)

    def receive(self, timeout: float = 2.0) -> Response | None:
        """The next message, or None when nothing came within `timeout` seconds."""
        self.sock.settimeout(timeout)
        try:
            if self.transport == "udp":
                return parse(self.sock.recv(65535))
            return parse(self._frame(time.monotonic() + timeout))
        except TimeoutError:
            return None

    def _frame(self, deadline: float) -> bytes:
        while b"\r\n\r\n" not in self.buffer:
            self._read(deadline)
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        match = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
        length = int(match.group(1)) if match else 0
        while len(rest) < length:
            self._read(deadline)
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
        self.buffer = rest[length:]
        return head + b"\r\n\r\n" + rest[:length]

    def _read(self, deadline: float) -> None:
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = self.sock.recv(65535)
        if not chunk:
            raise TimeoutError("connection closed")
        self.buffer += chunk

    def final(self, timeout: float = 3.0) -> Response | None:
        """The next final response, skipping provisional ones."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is None or message.status >= 200:
                return message
        return None

    def close(self) -> None:
        self.sock.close()


class Registrant:
    """A phone registering `username@realm` with `password`: one Call-ID, increasing CSeq, its own Contact."""

    def __init__(
        self, port: int, realm: str, username: str, password: str, *, transport: str = "udp", bind: str = HOST
    ):
        self.sip = SipSocket(port, transport, bind)
        self.realm, self.username, self.password = realm, username, password
        self.call_id = f"{secrets.token_hex(8)}@test"
        self.tag = secrets.token_hex(4)
        self.cseq = 0
        self.last_challenge: dict[str, str] | None = None

    @property
    def uri(self) -> str:
        return f"sip:{self.realm}"

    @property
    def contact(self) -> str:
        host, port = self.sip.address
        suffix = "" if self.sip.transport == "udp" else ";transport=tcp"
        return f"sip:{self.username}@{host}:{port}{suffix}"

    def request(
        self,
        *,
        contacts: list[str] | None = None,
        expires: int | None = None,
        auth: str | None = None,
        rport: bool = True,
        call_id: str | None = None,
        cseq: int | None = None,
        extra: tuple[str, ...] = (),
    ) -> bytes:
        host, port = self.sip.address
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        lines = [
            f"REGISTER {self.uri} SIP/2.0",
            f"Via: SIP/2.0/{self.sip.transport.upper()} {host}:{port};branch=z9hG4bK{secrets.token_hex(6)}"
            + (";rport" if rport else ""),
            "Max-Forwards: 70",
            f"From: <sip:{self.username}@{self.realm}>;tag={self.tag}",
            f"To: <sip:{self.username}@{self.realm}>",
            f"Call-ID: {call_id or self.call_id}",
            f"CSeq: {cseq} REGISTER",
            *[f"Contact: {c}" for c in (contacts if contacts is not None else [f"<{self.contact}>"])],
            *([f"Expires: {expires}"] if expires is not None else []),
            *([f"Authorization: {auth}"] if auth else []),
            "User-Agent: cloudpbx-tests",
            *extra,
            "Content-Length: 0",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def send(self, **kwargs) -> Response:
        self.sip.send(self.request(**kwargs))
        response = self.sip.final()
        assert response is not None, "no answer to REGISTER"
        return response

    def register(self, *, password: str | None = None, algorithm: str = "MD5", **kwargs) -> Response:
        """REGISTER, answer the challenge (with `algorithm`), return the final answer to the answered request."""
        challenge = self.send(**kwargs)
        if challenge.status != 401:
            return challenge
        self.last_challenge = challenges(challenge)[algorithm]
        auth = authorization(self.last_challenge, "REGISTER", self.uri, self.username, password or self.password)
        return self.send(auth=auth, **kwargs)

    def close(self) -> None:
        self.sip.close()


def contact_expiries(response: Response) -> dict[str, int]:
    """URI → expires of each Contact the registrar listed in its 200."""
    found = {}
    for value in response.values("contact"):
        uri = value[value.index("<") + 1 : value.index(">")]
        found[uri] = int(re.search(r"expires=(\d+)", value).group(1))
    return found
