"""A raw SIP user agent with real RTP sockets, for video calls: this pjsua2 build has no video.

`RtpPhone` registers like `uac.Registrant`, places a call (answering the 407 with the device's digest) or takes one,
and answers, re-INVITEs and hangs up with bodies the test writes. Each media section of its SDP is a `MediaPort`:
an RTP socket on an even port and its RTCP socket on the next. `Streamer` sends PCMU audio every 20 ms and H264
video at 30 frames a second on the ports (RTCP sender reports once a second) to where the far SDP says, and records
what each socket receives, so a test sees which packets the relay forwarded to which port.
"""

from __future__ import annotations

import secrets
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from cloudpbx.sip.message import Request, Response
from tests.sip.uac import HOST, Registrant, authorization, challenges

H264_FMTP = "profile-level-id=42e01f;packetization-mode=1"
SIP_WAIT_S = 5.0


@dataclass
class Packet:
    payload_type: int
    ssrc: int
    payload: bytes


@dataclass
class MediaPort:
    """One m= section of a phone: kind, payload number and rtpmap, its RTP/RTCP sockets and what they received."""

    kind: str
    payload: int
    rtpmap: str
    fmtp: str = ""
    interval_s: float = 0.02
    packet_size: int = 160
    others: tuple[tuple[int, str], ...] = ()  # more (payload, rtpmap) offered before the one sent
    ssrc: int = field(default_factory=lambda: secrets.randbits(32))
    rtp_in: list[Packet] = field(default_factory=list)
    rtcp_in: list[Packet] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rtp, self.rtcp = bind_pair()
        self.port = self.rtp.getsockname()[1]
        self.target: tuple[str, int] | None = None  # the far RTP address, from the SDP we were given
        self.rtcp_target: tuple[str, int] | None = None
        self.seq = secrets.randbelow(30000)

    def sdp(self, port: int | None = None, direction: str = "sendrecv") -> str:
        formats = " ".join(str(payload) for payload in [*(p for p, _ in self.others), self.payload])
        lines = [
            f"m={self.kind} {self.port if port is None else port} RTP/AVP {formats}",
            *(f"a=rtpmap:{payload} {rtpmap}" for payload, rtpmap in self.others),
            f"a=rtpmap:{self.payload} {self.rtpmap}",
        ]
        if self.fmtp:
            lines.append(f"a=fmtp:{self.payload} {self.fmtp}")
        if self.kind == "video":
            lines += [f"a=rtcp-fb:{self.payload} nack pli", f"a=rtcp-fb:{self.payload} ccm fir"]
        lines.append(f"a={direction}")
        return "\r\n".join(lines) + "\r\n"

    def rtp_packet(self) -> bytes:
        self.seq = (self.seq + 1) & 0xFFFF
        header = struct.pack("!BBHII", 0x80, self.payload, self.seq, self.seq * 3000, self.ssrc)
        body = (b"\x65" if self.kind == "video" else b"\xff") + bytes([self.seq & 0xFF]) * (self.packet_size - 1)
        return header + body

    def sender_report(self) -> bytes:
        """An RTCP SR (PT 200) with no report blocks."""
        return struct.pack("!BBHIIIIII", 0x80, 200, 6, self.ssrc, 0, 0, self.seq * 3000, self.seq, 0)

    def received_rtp(self, payload_type: int, ssrc: int) -> int:
        return sum(1 for p in self.rtp_in if p.payload_type == payload_type and p.ssrc == ssrc)

    def close(self) -> None:
        self.rtp.close()
        self.rtcp.close()


def audio_port() -> MediaPort:
    return MediaPort("audio", 0, "PCMU/8000")


def video_port(others: tuple[tuple[int, str], ...] = ()) -> MediaPort:
    """H264 (payload 96) at 30 frames a second of three 1000-byte packets, after `others` in the m-line."""
    return MediaPort("video", 96, "H264/90000", H264_FMTP, interval_s=1 / 90, packet_size=1000, others=others)


def bind_pair() -> tuple[socket.socket, socket.socket]:
    """Two UDP sockets on an even port and the next one."""
    for _ in range(100):
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind((HOST, 0))
        port = rtp.getsockname()[1]
        if port & 1 or port >= 65535:
            rtp.close()
            continue
        rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            rtcp.bind((HOST, port + 1))
        except OSError:
            rtp.close()
            rtcp.close()
            continue
        return rtp, rtcp
    raise RuntimeError("no free even/odd UDP port pair")


def sdp_body(ports: list[str], version: int = 1) -> bytes:
    """A whole body from m= sections (as `MediaPort.sdp` writes them)."""
    head = f"v=0\r\no=rtp-phone 4242 {version} IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
    return (head + "".join(ports)).encode()


def m_lines(body: bytes) -> list[tuple[str, int, list[str]]]:
    """(kind, port, formats) of each m= line of a body, in order."""
    found = []
    for line in body.decode().splitlines():
        if line.startswith("m="):
            kind, port, _proto, *formats = line[2:].split()
            found.append((kind, int(port.split("/")[0]), formats))
    return found


def section_lines(body: bytes, index: int) -> list[str]:
    """The lines below the `index`th m= line of a body."""
    sections = body.decode().split("\r\nm=")
    return sections[index + 1].split("\r\n")[1:] if index + 1 < len(sections) else []


def aim(ports: list[MediaPort], body: bytes) -> None:
    """Point each port at the far end of the same m-line of `body` (nowhere when declined)."""
    for port, (_kind, far, _formats) in zip(ports, m_lines(body), strict=False):
        port.target = (HOST, far) if far else None
        port.rtcp_target = (HOST, far + 1) if far else None


class Streamer(threading.Thread):
    """Sends every port's RTP at its packet rate (and an RTCP SR a second) and records what comes in, until stopped."""

    def __init__(self, ports: list[MediaPort]):
        super().__init__(daemon=True)
        self.ports = ports
        self.stopping = threading.Event()

    def run(self) -> None:
        sockets = {sock: (port, rtcp) for port in self.ports for sock, rtcp in ((port.rtp, False), (port.rtcp, True))}
        now = time.monotonic()
        due = {id(port): now for port in self.ports}
        report_due = now
        while not self.stopping.is_set():
            now = time.monotonic()
            for port in self.ports:
                if port.target and now >= due[id(port)]:
                    port.rtp.sendto(port.rtp_packet(), port.target)
                    due[id(port)] += port.interval_s
            if now >= report_due:
                for port in self.ports:
                    if port.rtcp_target:
                        port.rtcp.sendto(port.sender_report(), port.rtcp_target)
                report_due = now + 1.0
            wait = max(0.0, min(due.values()) - time.monotonic())
            readable, _, _ = select.select(list(sockets), [], [], min(wait, 0.005))
            for sock in readable:
                data = sock.recv(2048)
                port, rtcp = sockets[sock]
                if rtcp and len(data) >= 8:  # RTCP: packet type, then the sender's SSRC at 4
                    port.rtcp_in.append(Packet(data[1], struct.unpack_from("!I", data, 4)[0], data[8:]))
                elif len(data) >= 12:  # RTP: payload type, SSRC at 8
                    port.rtp_in.append(Packet(data[1] & 0x7F, struct.unpack_from("!I", data, 8)[0], data[12:]))

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=2)


def wait_for(predicate, timeout: float = 5.0, what: str = "condition") -> None:
    """Poll `predicate` until true; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class RtpPhone:
    """A registered device without pjsua: one UDP SIP socket, one call at a time, media on `MediaPort`s."""

    def __init__(self, sip_port: int, realm: str, username: str, password: str):
        self.registrant = Registrant(sip_port, realm, username, password)
        self.sip = self.registrant.sip
        self.realm, self.username, self.password = realm, username, password
        self.backlog: list[Request | Response] = []
        self.call_id = ""
        self.local_tag = secrets.token_hex(4)
        self.remote_tag = ""
        self.local_uri = self.remote_uri = self.remote_target = ""
        self.cseq = 0
        self.branch = ""  # of our last INVITE: the ACK of a failure goes in its transaction
        self.invite: Request | None = None  # the INVITE we took, as a callee

    def register(self) -> None:
        response = self.registrant.register()
        assert response.status == 200, response

    @property
    def contact(self) -> str:
        host, port = self.sip.address
        return f"sip:{self.username}@{host}:{port}"

    # reading ------------------------------------------------------------------------------------------------

    def next(self, wanted, timeout: float = SIP_WAIT_S) -> Request | Response:
        """The next message `wanted(message)` accepts; others wait in the backlog. Requests the phone must
        answer on its own (BYE, OPTIONS) are not answered here: tests take them with `expect`."""
        for message in self.backlog:
            if wanted(message):
                self.backlog.remove(message)
                return message
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.sip.receive(left)
            if message is None:
                break
            if wanted(message):
                return message
            self.backlog.append(message)
        raise TimeoutError(f"{self.username}: nothing wanted came in {timeout}s (backlog {self.backlog!r})")

    def expect(self, method: str, timeout: float = SIP_WAIT_S) -> Request:
        request = self.next(lambda m: isinstance(m, Request) and m.method == method, timeout)
        assert isinstance(request, Request)
        return request

    def final(self, method: str, cseq: int, timeout: float = SIP_WAIT_S) -> Response:
        """The final response to our request `cseq method` (provisional ones skipped)."""

        def wanted(message) -> bool:
            return (
                isinstance(message, Response)
                and message.cseq.number == cseq
                and message.cseq.method == method
                and message.status >= 200
            )

        response = self.next(wanted, timeout)
        assert isinstance(response, Response)
        return response

    # calling ------------------------------------------------------------------------------------------------

    def dial(self, number: str, body: bytes) -> None:
        """INVITE `number` in the realm with `body` (empty: a late offer), answering the 407 with the device's
        digest; `outcome` reads how it ends."""
        self.call_id = f"{secrets.token_hex(8)}@rtp-phone"
        self.local_uri, self.remote_uri = f"sip:{self.username}@{self.realm}", f"sip:{number}@{self.realm}"
        self.remote_target, self.remote_tag = self.remote_uri, ""
        self._send_invite(body)
        challenge = self.final("INVITE", self.cseq)
        assert challenge.status == 407, challenge
        self._ack_failure(challenge)
        digest = challenges(challenge, "Proxy-Authenticate")["MD5"]
        answer = authorization(digest, "INVITE", self.remote_uri, self.username, self.password)
        self._send_invite(body, (f"Proxy-Authorization: {answer}",))

    def outcome(self, ack_body: bytes = b"", timeout: float = SIP_WAIT_S) -> Response:
        """The INVITE's final response, ACKed (a 2xx's ACK carries `ack_body`: the answer to a late offer)."""
        response = self.final("INVITE", self.cseq, timeout)
        if response.status >= 300:
            self._ack_failure(response)
            return response
        self.remote_tag = response.to.tag or ""
        if response.contacts:
            self.remote_target = str(response.contacts[0].uri)
        self.sip.send(self._request("ACK", ack_body, cseq=self.cseq))
        return response

    def _send_invite(self, body: bytes, extra: tuple[str, ...] = ()) -> None:
        self.cseq += 1
        self.branch = f"z9hG4bK{secrets.token_hex(6)}"
        self.sip.send(self._request("INVITE", body, extra, branch=self.branch))

    def _ack_failure(self, response: Response) -> None:
        """ACK a non-2xx final response, in the INVITE's own transaction."""
        self.remote_tag = response.to.tag or ""
        self.sip.send(self._request("ACK", b"", branch=self.branch, cseq=self.cseq))
        self.remote_tag = ""

    def send_reinvite(self, body: bytes) -> int:
        """Send a re-INVITE without waiting: its CSeq, for `finish_reinvite`."""
        self.cseq += 1
        self.sip.send(self._request("INVITE", body))
        return self.cseq

    def finish_reinvite(self, cseq: int) -> Response:
        response = self.final("INVITE", cseq, timeout=10)
        if response.status < 300:
            self.sip.send(self._request("ACK", b"", cseq=cseq))
        return response

    def bye(self) -> Response:
        self.cseq += 1
        self.sip.send(self._request("BYE", b""))
        return self.final("BYE", self.cseq)

    # being called -------------------------------------------------------------------------------------------

    def take_call(self) -> Request:
        """Wait for an INVITE and ring (180)."""
        invite = self.expect("INVITE")
        self.invite, self.call_id = invite, invite.call_id
        self.remote_tag = invite.from_.tag or ""
        self.remote_uri, self.local_uri = str(invite.from_.uri), str(invite.to.uri)
        self.remote_target = str(invite.contacts[0].uri) if invite.contacts else self.remote_uri
        self.sip.send(self.response(invite, 180, "Ringing"))
        return invite

    def answer(self, body: bytes, status: int = 200, wait_ack: bool = True) -> Request | None:
        """Answer the INVITE we took; for a 2xx wait for the ACK and return it, unless told not to."""
        assert self.invite is not None
        self.sip.send(self.response(self.invite, status, "OK" if status == 200 else "Refused", body))
        if status >= 300 or not wait_ack:
            return None
        return self.expect("ACK")

    def answer_reinvite(self, body: bytes) -> tuple[Request, Request]:
        """Take the next re-INVITE, answer it 200 with `body`: (the re-INVITE, its ACK)."""
        request = self.expect("INVITE", timeout=10)
        self.sip.send(self.response(request, 200, "OK", body))
        return request, self.expect("ACK")

    def response(self, request: Request, status: int, reason: str, body: bytes = b"") -> bytes:
        to = request.header("to")
        if ";tag=" not in to and status > 100:
            to += f";tag={self.local_tag}"
        lines = [
            f"SIP/2.0 {status} {reason}",
            *[f"Via: {via}" for via in request.get_all("via")],
            f"From: {request.header('from')}",
            f"To: {to}",
            f"Call-ID: {request.call_id}",
            f"CSeq: {request.cseq.number} {request.cseq.method}",
            f"Contact: <{self.contact}>",
            *(["Content-Type: application/sdp"] if body else []),
            f"Content-Length: {len(body)}",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def answer_bye(self) -> None:
        request = self.expect("BYE")
        self.sip.send(self.response(request, 200, "OK"))

    # requests in our dialog ---------------------------------------------------------------------------------

    def _request(
        self, method: str, body: bytes, extra: tuple[str, ...] = (), *, branch: str = "", cseq: int | None = None
    ) -> bytes:
        host, port = self.sip.address
        ours = f"<{self.local_uri}>;tag={self.local_tag}"
        theirs = f"<{self.remote_uri}>" + (f";tag={self.remote_tag}" if self.remote_tag else "")
        lines = [
            f"{method} {self.remote_target} SIP/2.0",
            f"Via: SIP/2.0/UDP {host}:{port};branch={branch or 'z9hG4bK' + secrets.token_hex(6)};rport",
            "Max-Forwards: 70",
            f"From: {ours}",
            f"To: {theirs}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq if cseq is None else cseq} {method}",
            f"Contact: <{self.contact}>",
            *extra,
            *(["Content-Type: application/sdp"] if body else []),
            f"Content-Length: {len(body)}",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def close(self) -> None:
        self.registrant.close()
