"""The SIP test harness proved without our server: pjsua2 phones call each other directly, SIPp calls SIPp."""

from __future__ import annotations

import math
from array import array

import pytest

from tests.sip.phones import Recording, limit_codecs, phones, pump  # noqa: F401 - phones is a fixture
from tests.sip.sipp import Sipp


def connect(caller, callee):
    """caller dials callee's URI, callee answers: both legs confirmed."""
    out = caller.call(callee.uri)
    incoming = callee.answer()
    out.wait("CONFIRMED")
    return out, incoming


def test_direct_call_rings_connects_carries_tones_both_ways_and_callee_hangs_up(phones):
    alice, bob = phones("alice"), phones("bob")
    out = alice.call(bob.uri)
    incoming = bob.wait_incoming()
    out.wait("EARLY")
    assert (out.code, out.reason) == (180, "Ringing")
    assert incoming.invite.startswith(f"INVITE {bob.uri} SIP/2.0\r\n")
    assert "sip:alice@127.0.0.1" in incoming.remote_uri
    incoming.answer()
    out.wait("CONFIRMED")
    assert out.codec == incoming.codec == "PCMU"
    assert (out.media, out.direction) == ("active", "sendrecv")

    alice.send_tone(1000)
    bob.send_tone(1500)
    heard_by_bob, heard_by_alice = bob.current.listen(), alice.current.listen()
    assert heard_by_bob.has_tone(1000) and not heard_by_bob.has_tone(1500)
    assert heard_by_alice.has_tone(1500) and not heard_by_alice.has_tone(1000)

    bob.hangup()
    out.wait("DISCONNECTED")
    assert alice.state == bob.state == "DISCONNECTED"


def test_hold_changes_media_direction_and_resume_brings_audio_back_then_caller_hangs_up(phones):
    alice, bob = phones("alice"), phones("bob")
    out, incoming = connect(alice, bob)
    alice.send_tone(1000)
    bob.send_tone(1500)

    alice.hold()
    pump(0.2)
    assert (out.media, out.direction) == ("local_hold", "sendonly")
    assert (incoming.media, incoming.direction) == ("remote_hold", "recvonly")
    assert out.listen().level() < 100  # bob, held, sends nothing

    alice.unhold()
    pump(0.2)
    assert (incoming.media, incoming.direction) == ("active", "sendrecv")
    assert alice.hears(1500) and bob.hears(1000)

    alice.hangup()
    incoming.wait("DISCONNECTED")
    assert bob.last_code == 200


def test_call_over_tcp_carries_tones(phones):
    alice, bob = phones("alice", transport="tcp"), phones("bob", transport="tcp")
    assert bob.uri.endswith(";transport=tcp")
    _out, incoming = connect(alice, bob)
    alice.send_tone(1000)
    bob.send_tone(1500)
    assert bob.hears(1000) and alice.hears(1500)
    alice.hangup()
    incoming.wait("DISCONNECTED")


def test_caller_cancels_while_ringing(phones):
    alice, bob = phones("alice"), phones("bob")
    out = alice.call(bob.uri)
    incoming = bob.wait_incoming()
    out.wait("EARLY")
    out.hangup()
    incoming.wait("DISCONNECTED")
    assert "CONFIRMED" not in out.states
    assert (incoming.code, incoming.reason) == (487, "Request Terminated")
    assert bob.ringing == []


def test_callee_rejects_busy(phones):
    alice, bob = phones("alice"), phones("bob")
    out = alice.call(bob.uri)
    bob.reject(486)
    out.wait("DISCONNECTED")
    assert (alice.last_code, alice.last_reason) == (486, "Busy Here")


def test_codec_lists_per_phone_pick_the_codec_or_refuse_the_call(phones):
    alice, bob = phones("alice", codecs=("PCMA", "PCMU")), phones("bob", codecs=("G722", "PCMU", "PCMA"))
    out, incoming = connect(alice, bob)
    assert out.codec == incoming.codec == "PCMA"
    alice.hangup()

    ulaw, alaw = phones("ulaw", codecs=("PCMU",)), phones("alaw", codecs=("PCMA",))
    refused = ulaw.call(alaw.uri).wait("DISCONNECTED")
    assert refused.code == 488
    assert "CONFIRMED" not in refused.states


def test_limit_codecs_keeps_the_listed_codecs_in_order_and_dtmf():
    sdp = (
        "v=0\r\nm=audio 4000 RTP/AVP 0 8 9 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
    )
    limited = limit_codecs(sdp, ("G722", "PCMU"))
    assert "m=audio 4000 RTP/AVP 9 0 101\r\n" in limited
    assert "PCMA" not in limited and "a=fmtp:101 0-16" in limited


def test_goertzel_detector_tells_tones_apart():
    rate = 16000
    sine = array("h", (int(8000 * math.sin(2 * math.pi * 1000 * n / rate)) for n in range(rate // 2)))
    tone = Recording(sine, rate)
    assert tone.share(1000) > 0.95 and tone.share(1500) < 0.05
    assert tone.has_tone(1000) and not tone.has_tone(1500)
    assert not Recording(array("h", [0] * rate), rate).has_tone(1000)


def test_register_with_digest_against_a_sipp_registrar(phones):
    phone = phones("alice")
    keys = {"realm": "harness.example", "user": "alice", "password": "right-pw"}
    with Sipp("uas_registrar.xml", keys=keys, tick=pump) as registrar:
        code = phone.register(f"127.0.0.1:{registrar.port}", "harness.example", "alice", "right-pw")
    assert (code, phone.registered, phone.reg_expires) == (200, True, 60)
    assert registrar.result().ok

    other = phones("mallory")
    with Sipp("uas_registrar.xml", keys=keys, tick=pump) as registrar:
        code = other.register(f"127.0.0.1:{registrar.port}", "harness.example", "alice", "wrong-pw")
    assert (code, other.registered) == (403, False)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_uac_calls_sipp_uas(transport):
    with Sipp("uas_answer.xml", calls=3, transport=transport) as uas:
        uac = Sipp(
            "uac_call.xml",
            remote=f"127.0.0.1:{uas.port}",
            calls=3,
            rate=20,
            service="2002",
            pause_ms=50,
            transport=transport,
        ).run(timeout=20)
    assert uac.ok, uac.describe()
    assert (uac.successful, uac.failed) == (3, 0)
    assert (uas.result().successful, uas.result().failed) == (3, 0)


def test_sipp_busy_uas_answers_486(phones):
    with Sipp("uas_busy.xml", calls=2, tick=pump) as uas:
        out = phones("alice").call(f"sip:busy@127.0.0.1:{uas.port}").wait("DISCONNECTED")
        uac = Sipp("uac_call.xml", remote=f"127.0.0.1:{uas.port}").run(timeout=20)
    assert (out.code, out.reason) == (486, "Busy Here")
    assert (uac.returncode, uac.failed) == (1, 1)
    assert uas.result().ok


def test_sipp_no_answer_uas_rings_and_never_answers(phones):
    with Sipp("uas_no_answer.xml", tick=pump) as uas:
        out = phones("alice").call(f"sip:nobody@127.0.0.1:{uas.port}").wait("EARLY")
        pump(1.0)
        assert (out.state, out.code) == ("EARLY", 180)
        out.hangup()
    assert uas.result().ok


CHALLENGING_UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uas_challenge">
  <recv request="INVITE"/>
  <send><![CDATA[

      SIP/2.0 401 Unauthorized
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      WWW-Authenticate: Digest realm="harness.example", nonce="[pid]n[call_number]", algorithm=MD5
      Content-Length: 0

  ]]></send>
  <recv request="ACK"/>
  <recv request="INVITE" auth="true">
    <action>
      <verifyauth assign_to="valid" username="1001" password="pw-1001"/>
      <ereg regexp="uri=.sip:2002@harness.example." search_in="hdr" header="Authorization:" check_it="true"
            assign_to="uri"/>
    </action>
  </recv>
  <nop test="valid" next="good"/>
  <send next="end"><![CDATA[

      SIP/2.0 403 Forbidden
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

  ]]></send>
  <label id="good"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:uas@[local_ip]:[local_port]>
      X-Digest-Uri: [$uri]
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 2 2 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

  ]]></send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

  ]]></send>
  <label id="end"/>
</scenario>
"""


def test_sipp_uac_answers_a_digest_challenge_on_invite(tmp_path):
    scenario = tmp_path / "uas_challenge.xml"
    scenario.write_text(CHALLENGING_UAS)
    caller = {"caller": "1001", "domain": "harness.example"}
    with Sipp(str(scenario), calls=2) as uas:
        good = Sipp(
            "uac_call.xml", remote=f"127.0.0.1:{uas.port}", service="2002", keys=caller, auth=("1001", "pw-1001")
        ).run(timeout=20)
        bad = Sipp(
            "uac_call.xml", remote=f"127.0.0.1:{uas.port}", service="2002", keys=caller, auth=("1001", "wrong")
        ).run(timeout=20)
    assert good.ok, good.describe()
    assert (bad.returncode, bad.failed) == (1, 1)
    assert uas.result().successful == 2
