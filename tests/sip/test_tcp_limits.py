"""SIP over TCP against slow and greedy peers: a server limited to 256 open files, where a message must be complete
2 s after it began (a new connection's first message too), a connection idle for 4 s is dropped, and one address
may hold 10 connections. Real sockets from several 127.0.x.y source addresses."""

from __future__ import annotations

import secrets
import socket
import time

import pytest

from tests.conftest import db_url, free_sip_port, start_server, stop_server
from tests.helpers import read_until_closed
from tests.sip.uac import SipSocket

PER_ADDRESS = 10


@pytest.fixture(scope="module")
def sip_port(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tcplimits")
    port = free_sip_port()
    env = {
        "CLOUDPBX_SIP_TCP_MESSAGE_TIMEOUT": "2",
        "CLOUDPBX_SIP_TCP_IDLE_TIMEOUT": "4",
        "CLOUDPBX_SIP_TCP_MAX_PER_ADDRESS": str(PER_ADDRESS),
    }
    proc, _ = start_server(data_dir, db_url(data_dir), extra_env=env, sip_port=port, file_limit=256)
    try:
        yield port
    finally:
        stop_server(proc)


def options(sock: socket.socket) -> bytes:
    host, port = sock.getsockname()
    return (
        f"OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP {host}:{port};branch=z9hG4bK{secrets.token_hex(6)}"
        f"\r\nFrom: <sip:tester@{host}>;tag={secrets.token_hex(4)}\r\nTo: <sip:ping@127.0.0.1>\r\n"
        f"Call-ID: {secrets.token_hex(8)}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def answered(sip: SipSocket) -> bool:
    sip.send(options(sip.sock))
    response = sip.final(5)
    return response is not None and response.status == 200


def test_a_message_sent_a_byte_at_a_time_is_dropped(sip_port):
    sip = SipSocket(sip_port, "tcp")
    try:
        sip.send(options(sip.sock)[:40])
        assert read_until_closed(sip.sock, trickle=b"x") == b""
    finally:
        sip.close()


def test_a_connection_that_never_sends_a_message_is_dropped(sip_port):
    sip = SipSocket(sip_port, "tcp")
    try:
        assert set(read_until_closed(sip.sock, trickle=b"\r\n\r\n")) <= set(b"\r\n")  # pongs only: pings do not count
    finally:
        sip.close()


def test_a_peer_that_speaks_sip_keeps_its_connection_until_it_falls_idle(sip_port):
    sip = SipSocket(sip_port, "tcp")
    try:
        assert answered(sip)
        time.sleep(2.5)  # longer than the message timeout: an idle, proven connection is not cut for it
        assert answered(sip)
        assert read_until_closed(sip.sock) == b""  # then dropped once idle
    finally:
        sip.close()


def test_one_address_gets_a_limited_number_of_connections(sip_port):
    held = [SipSocket(sip_port, "tcp", bind="127.0.0.21") for _ in range(PER_ADDRESS)]
    try:
        assert all(answered(sip) for sip in held)
        extra = SipSocket(sip_port, "tcp", bind="127.0.0.21")
        assert read_until_closed(extra.sock) == b""
        extra.close()
        other = SipSocket(sip_port, "tcp", bind="127.0.0.22")
        assert answered(other)
        other.close()
    finally:
        for sip in held:
            sip.close()


def test_more_slow_connections_than_open_files_still_leave_room_for_a_phone(sip_port):
    slow = []
    try:
        for n in range(300):  # 30 addresses x 10, more than the server's 256 files
            sip = SipSocket(sip_port, "tcp", bind=f"127.0.2.{n // PER_ADDRESS + 1}")
            sip.send(options(sip.sock)[:40])
            slow.append(sip)
        phone = SipSocket(sip_port, "tcp", bind="127.0.3.1")
        assert answered(phone)
        phone.close()
    finally:
        for sip in slow:
            sip.close()


def test_a_peer_that_does_not_read_its_answers_is_dropped(sip_port):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: a small window
    sock.bind(("127.0.0.23", 0))
    sock.connect(("127.0.0.1", sip_port))
    sock.settimeout(30)
    try:
        assert dropped_while_sending(sock, lambda: options(sock))
    finally:
        sock.close()


def dropped_while_sending(sock: socket.socket, request) -> bool:
    """Send 40 x 500 requests (about 10 MB of answers, never read), then pings: True once the server resets us."""
    try:
        for _ in range(40):
            sock.sendall(b"".join(request() for _ in range(500)))
        for _ in range(40):
            sock.sendall(b"\r\n\r\n")
            time.sleep(0.25)
    except (ConnectionResetError, BrokenPipeError):
        return True
    return False
