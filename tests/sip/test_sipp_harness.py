"""The SIPp harness starts SIPp again on fresh ports when a port chosen free was taken before SIPp bound it (another
process got there first), instead of failing the test that wanted a carrier or a caller."""

from __future__ import annotations

import socket

from tests.sip.sipp import HOST, Sipp


def test_a_media_port_taken_in_the_meantime_gets_a_fresh_one():
    uas = Sipp("uas_answer.xml")
    media = int(uas.args[uas.args.index("-mp") + 1])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as thief:
        thief.bind((HOST, media))
        uas.start()
        try:
            assert int(uas.args[uas.args.index("-mp") + 1]) != media
            assert uas.proc is not None and uas.proc.poll() is None, "running on the fresh ports"
        finally:
            uas.stop()
