"""Real SIP phones for tests: pjsua2 user agents driven synchronously from pytest code.

pjsua2 allows one Endpoint per process, so all phones share a lazily created one (destroyed at exit). It runs
with no worker threads: SIP events are handled only while a test waits (`wait_until`, `pump`, or any blocking
Phone method), in the test's own thread. Each phone has its own account and, while it lives, its own SIP transport
on a random 127.0.0.1 port, sends tones and hears them (WAV recording + Goertzel). Set CLOUDPBX_PJSUA_LOG=1..6 for
logs.

Transports are kept by the Lab and handed to the next phone once a phone closes: pjsua frees a closed transport's
slot only when its last transaction ends (up to 32 s later), and it has eight slots, so closing them would make a
test fail with PJ_ETOOMANY whenever the tests before it opened many phones in a short time.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import statistics
import tempfile
import time
import wave
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pjsua2 as pj
import pytest

HOST = "127.0.0.1"
LOG_ENV = "CLOUDPBX_PJSUA_LOG"
MAX_PHONES = 8  # this pjsua build's limit on accounts and on transports
MAX_CALLS = 4  # this pjsua build's limit on call legs alive at once, all phones together (incoming beyond: 486)
DEFAULT_CODECS = ("PCMU", "PCMA")
_STATIC_PAYLOADS = {"0": "PCMU/8000", "3": "GSM/8000", "8": "PCMA/8000", "9": "G722/8000", "18": "G729/8000"}
_STATES = {
    pj.PJSIP_INV_STATE_NULL: "NULL",
    pj.PJSIP_INV_STATE_CALLING: "CALLING",
    pj.PJSIP_INV_STATE_INCOMING: "INCOMING",
    pj.PJSIP_INV_STATE_EARLY: "EARLY",
    pj.PJSIP_INV_STATE_CONNECTING: "CONNECTING",
    pj.PJSIP_INV_STATE_CONFIRMED: "CONFIRMED",
    pj.PJSIP_INV_STATE_DISCONNECTED: "DISCONNECTED",
}
_MEDIA_STATUS = {
    pj.PJSUA_CALL_MEDIA_NONE: "none",
    pj.PJSUA_CALL_MEDIA_ACTIVE: "active",
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "local_hold",
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "remote_hold",
    pj.PJSUA_CALL_MEDIA_ERROR: "error",
}
_DIRECTIONS = {0: "inactive", 1: "sendonly", 2: "recvonly", 3: "sendrecv"}  # pjmedia_dir bits: 1 encode, 2 decode
_TRANSPORTS = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP}


class Lab:
    """The process's one pjsua2 Endpoint, pumped from the calling thread, and the phones living on it."""

    _instance: Lab | None = None

    @classmethod
    def get(cls) -> Lab:
        if cls._instance is None:
            cls._instance = cls()
            atexit.register(cls._instance.destroy)
        return cls._instance

    def __init__(self):
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        self.ep.libInit(_endpoint_config())
        self.ep.audDevManager().setNullDev()
        self.ep.libStart()
        for codec in self.ep.codecEnum2():  # every codec stays usable; each phone's SDP picks its own list
            self.ep.codecSetPriority(codec.codecId, 0 if codec.codecId.startswith("L16") else 128)
        self.phones: list[Phone] = []
        self.transports: dict[str, list[tuple[int, int]]] = {kind: [] for kind in _TRANSPORTS}  # free: (id, port)
        self.errors: list[BaseException] = []  # raised inside pjsua2 callbacks, re-raised by pump
        self.dir = Path(tempfile.mkdtemp(prefix="phones-"))

    def handle_events(self, msec: int = 10) -> None:
        self.ep.libHandleEvents(msec)
        if self.errors:
            error = self.errors.pop(0)
            raise RuntimeError("error in a pjsua2 callback") from error

    def take_transport(self, kind: str) -> tuple[int, int]:
        """A free transport of `kind` (its id and port), opened when none is free."""
        free = self.transports[kind]
        return free.pop(0) if free else _open_transport(self.ep, kind)  # the longest closed first

    def give_back_transport(self, kind: str, transport: tuple[int, int]) -> None:
        self.transports[kind].append(transport)

    def destroy(self) -> None:
        """Hang up and close every phone, then destroy the library (pjsua2 crashes if left to the GC)."""
        for phone in list(self.phones):
            phone.close()
        self.ep.libDestroy()
        self.dir.rmdir()
        Lab._instance = None


def _endpoint_config() -> pj.EpConfig:
    level = int(os.environ.get(LOG_ENV, "1"))
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.maxCalls = MAX_CALLS
    cfg.uaConfig.userAgent = "cloudpbx-test-phone"
    cfg.logConfig.level = level
    cfg.logConfig.consoleLevel = level
    cfg.logConfig.msgLogging = level >= 5
    cfg.medConfig.noVad = True
    cfg.medConfig.ecTailLen = 0
    return cfg


def pump(seconds: float = 0.0) -> None:
    """Handle SIP and media events for `seconds` (at least once)."""
    lab = Lab.get()
    deadline = time.monotonic() + seconds
    lab.handle_events()
    while time.monotonic() < deadline:
        lab.handle_events()


def wait_until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    """Handle events until `predicate()` is true; TimeoutError after `timeout` seconds."""
    lab = Lab.get()
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        lab.handle_events()


def _guarded(method):
    """pjsua2 aborts the process on a Python exception in a callback: keep it for the next pump instead."""

    def wrapper(self, *args):
        try:
            method(self, *args)
        except BaseException as error:  # noqa: BLE001 - re-raised by Lab.handle_events
            Lab.get().errors.append(error)

    return wrapper


class _Account(pj.Account):
    def __init__(self, phone: Phone):
        super().__init__()
        self.phone = phone

    @_guarded
    def onRegState(self, prm):
        self.phone._registration_result(prm.code, prm.reason, prm.expiration)

    @_guarded
    def onIncomingCall(self, prm):
        call = PhoneCall(self.phone, _PjCall(self, prm.callId), outgoing=False, invite=prm.rdata.wholeMsg)
        call._send(call._pj.answer, 180)


class _PjCall(pj.Call):
    def __init__(self, account: _Account, call_id: int = pj.PJSUA_INVALID_ID):
        super().__init__(account, call_id)
        self.owner: PhoneCall | None = None

    @_guarded
    def onCallState(self, prm):
        if self.owner:
            self.owner._state_changed(self.getInfo())

    @_guarded
    def onCallMediaState(self, prm):
        if self.owner:
            self.owner._media_changed(self.getInfo())

    @_guarded
    def onCallTransferStatus(self, prm):
        if self.owner:
            self.owner._transfer_status(prm.statusCode, prm.finalNotify)

    @_guarded
    def onCallTsxState(self, prm):
        if self.owner and prm.e.type == pj.PJSIP_EVENT_TSX_STATE:
            self.owner._transaction(prm.e.body.tsxState.tsx)

    @_guarded
    def onCallRxOffer(self, prm):  # answered as pjsua would by itself (200), or refused when the call says so
        if self.owner:
            self.owner.offers.append(prm.offer.wholeSdp)
            if self.owner.refuse_offers:
                prm.statusCode = self.owner.refuse_offers

    @_guarded
    def onCallSdpCreated(self, prm):
        if self.owner:
            prm.sdp.wholeSdp = limit_codecs(prm.sdp.wholeSdp, self.owner.phone.codecs)


class Phone:
    """One SIP phone: an account on its own transport; calls, answers, holds, sends and hears tones."""

    def __init__(
        self, user: str = "phone", transport: str = "udp", codecs: Sequence[str] = DEFAULT_CODECS, prack: bool = False
    ):
        self.lab = Lab.get()
        self.prack = prack  # 100rel required on its calls: reliable 18x asked for in its INVITEs and sent to callers
        if len(self.lab.phones) >= MAX_PHONES:
            raise RuntimeError(f"pjsua allows at most {MAX_PHONES} phones at once")
        self.user = user
        self.codecs = tuple(codecs)
        self.calls: list[PhoneCall] = []
        self.realm: str | None = None
        self.reg_code: int | None = None
        self.reg_reason = ""
        self.reg_expires = 0
        self._reg_results = 0
        self._reg_settings: tuple | None = None
        self._transport_id, self.port = self.lab.take_transport(transport)
        self.transport = transport
        self._account = _Account(self)
        self._account.create(self._config())
        self.lab.phones.append(self)

    @property
    def uri(self) -> str:
        """Where to call this phone directly, without a server."""
        suffix = ";transport=tcp" if self.transport == "tcp" else ""
        return f"sip:{self.user}@{HOST}:{self.port}{suffix}"

    @property
    def registered(self) -> bool:
        return self.reg_code == 200 and self.reg_expires > 0

    def _config(self, server: str | None = None, password: str = "", expires: int = 300) -> pj.AccountConfig:
        cfg = pj.AccountConfig()
        cfg.sipConfig.transportId = self._transport_id
        cfg.mediaConfig.transportConfig.boundAddress = HOST
        cfg.mediaConfig.transportConfig.port = 0
        cfg.natConfig.iceEnabled = False
        cfg.natConfig.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
        cfg.natConfig.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
        cfg.callConfig.prackUse = pj.PJSUA_100REL_MANDATORY if self.prack else pj.PJSUA_100REL_NOT_USED
        if server is None:
            cfg.idUri = f"sip:{self.user}@{HOST}:{self.port}"
            return cfg
        cfg.idUri = f"sip:{self.user}@{self.realm}"
        cfg.regConfig.registrarUri = f"sip:{self.realm}"
        cfg.regConfig.timeoutSec = expires
        cfg.regConfig.retryIntervalSec = 0
        cfg.sipConfig.proxies.append(f"sip:{server};lr;transport={self.transport}")
        cfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", self.realm, self.user, 0, password))
        return cfg

    def register(
        self,
        server: str,
        realm: str,
        username: str,
        password: str,
        transport: str | None = None,
        expires: int = 300,
        timeout: float = 5.0,
    ) -> int:
        """REGISTER (digest) to `server` ("127.0.0.1:5060") for `username@realm`; waits and returns the status.

        Calls by number then go to `sip:NUMBER@realm` through `server` as the outbound proxy.
        """
        if transport and transport != self.transport:
            self._switch_transport(transport)
        self.user, self.realm = username, realm
        settings = (server, realm, username, password, expires, self.transport)
        results = self._reg_results
        self._account.modify(self._config(server, password, expires))
        if settings == self._reg_settings:  # pjsua re-registers on modify() only when something changed
            self._account.setRegistration(True)
        self._reg_settings = settings
        wait_until(
            lambda: self._reg_results > results and not self._unregistered(),
            timeout,
            f"the REGISTER result of {username}@{realm}",
        )
        return self.reg_code

    def _unregistered(self) -> bool:
        """A 200 with no expiry: the un-REGISTER pjsua sends first when the registrar changes."""
        return self.reg_code == 200 and self.reg_expires == 0

    def unregister(self, timeout: float = 5.0) -> int:
        results = self._reg_results
        self._account.setRegistration(False)
        wait_until(lambda: self._reg_results > results, timeout, f"the un-REGISTER result of {self.user}")
        return self.reg_code

    def _unregister_quietly(self) -> None:
        """Un-REGISTER before closing: one still in flight when the library is destroyed may crash it. A
        registrar that is gone does not answer; the phone is closed anyway."""
        if self.registered:
            with contextlib.suppress(TimeoutError):
                self.unregister(timeout=2.0)

    def _registration_result(self, code: int, reason: str, expires: int) -> None:
        self.reg_code, self.reg_reason = code, reason
        self.reg_expires = expires if 200 <= code < 300 else 0
        self._reg_results += 1

    def _switch_transport(self, kind: str) -> None:
        """A new account on a new transport: pjsua mishandles an account modified onto another transport."""
        self._account.shutdown()
        self.lab.give_back_transport(self.transport, (self._transport_id, self.port))
        self._transport_id, self.port = self.lab.take_transport(kind)
        self.transport = kind
        self._reg_settings = None
        self._account = _Account(self)
        self._account.create(self._config())

    def call(self, target: str) -> PhoneCall:
        """INVITE `target`: a SIP URI, or a number/extension dialled in the registered realm."""
        if not target.startswith(("sip:", "sips:")):
            if self.realm is None:
                raise ValueError(f"{self.user} is not registered: dial a SIP URI")
            target = f"sip:{target}@{self.realm}"
        pj_call = _PjCall(self._account)
        call = PhoneCall(self, pj_call, outgoing=True)
        try:
            pj_call.makeCall(target, pj.CallOpParam(True))
        except pj.Error as error:
            self.calls.remove(call)
            call._pj = pj_call.owner = None
            raise RuntimeError(f"{self.user} cannot call {target}: {error.info()}") from None
        return call

    @property
    def ringing(self) -> list[PhoneCall]:
        """Incoming calls not yet answered or rejected, oldest first."""
        return [c for c in self.calls if not c.outgoing and not c.answered and c.state != "DISCONNECTED"]

    def wait_incoming(self, timeout: float = 5.0) -> PhoneCall:
        wait_until(lambda: self.ringing, timeout, f"an incoming call on {self.user}")
        return self.ringing[0]

    @property
    def current(self) -> PhoneCall:
        """The newest live call, else the newest call."""
        if not self.calls:
            raise LookupError(f"{self.user} has no call")
        return next((c for c in reversed(self.calls) if c.state != "DISCONNECTED"), self.calls[-1])

    def answer(self, code: int = 200, timeout: float = 5.0) -> PhoneCall:
        """Wait for an incoming call and answer it with `code` (200 waits until it is confirmed)."""
        call = self.wait_incoming(timeout)
        call.answer(code, timeout)
        return call

    def reject(self, code: int = 486, timeout: float = 5.0) -> PhoneCall:
        call = self.wait_incoming(timeout)
        call.reject(code, timeout)
        return call

    def hangup(self, timeout: float = 5.0) -> None:
        self.current.hangup(timeout=timeout)

    def hold(self, timeout: float = 5.0) -> None:
        self.current.hold(timeout)

    def unhold(self, timeout: float = 5.0) -> None:
        self.current.unhold(timeout)

    def send_tone(self, freq: int) -> None:
        self.current.send_tone(freq)

    def hears(self, freq: int, seconds: float = 0.6) -> bool:
        return self.current.hears(freq, seconds)

    @property
    def state(self) -> str:
        return self.current.state

    @property
    def last_code(self) -> int:
        return self.current.code

    @property
    def last_reason(self) -> str:
        return self.current.reason

    def close(self) -> None:
        """Hang up every call, drop the registration and the account, give the transport back to the Lab."""
        live = [c for c in self.calls if c.state != "DISCONNECTED"]
        for call in live:
            call._hangup_now()
        try:
            wait_until(lambda: all(c.state == "DISCONNECTED" for c in live), 3.0, "calls to end")
            self._unregister_quietly()
        finally:
            for call in self.calls:
                call.stop_tone()
            self._account.shutdown()
            # Free the account now: pjsua2's destructor deletes whatever account holds its id by then, so a
            # closed phone collected later (Phone and _Account form a cycle) would delete a newer phone's account.
            self._account = None
            self.lab.give_back_transport(self.transport, (self._transport_id, self.port))
            self.lab.phones.remove(self)


def _open_transport(ep: pj.Endpoint, kind: str) -> tuple[int, int]:
    cfg = pj.TransportConfig()
    cfg.port = 0
    cfg.boundAddress = HOST
    cfg.publicAddress = HOST
    transport_id = ep.transportCreate(_TRANSPORTS[kind], cfg)
    return transport_id, int(ep.transportGetInfo(transport_id).localName.rsplit(":", 1)[1])


class PhoneCall:
    """One call leg of a phone, with its SIP state, last response and media state."""

    def __init__(self, phone: Phone, pj_call: _PjCall, outgoing: bool, invite: str = ""):
        self.phone = phone
        self.outgoing = outgoing
        self.invite = invite  # the raw INVITE of an incoming call (caller ID, headers)
        self.answered = False
        self.state = "NULL"
        self.states: list[str] = []
        self.code = 0
        self.reason = ""
        self.remote_uri = ""
        self.call_id = ""
        self.media = "none"
        self.direction = "inactive"
        self.codec = ""
        self.media_updates = 0  # SDP negotiations that changed or confirmed the media (re-INVITEs count)
        self.transfer_statuses: list[int] = []  # what the NOTIFYs of our REFER reported, in order
        self.transfer_done = False  # the final NOTIFY came
        self.transactions: list[tuple[str, str, int]] = []  # ("uac" | "uas", method, final status) of its dialog
        self.offers: list[str] = []  # SDP offers received after the first (re-INVITE, UPDATE)
        self.refuse_offers = 0  # a status (488) to refuse later offers with instead of answering them
        self._tone: pj.ToneGenerator | None = None
        self._pj: _PjCall | None = pj_call
        pj_call.owner = self
        phone.calls.append(self)

    def __repr__(self) -> str:
        return f"<PhoneCall {self.phone.user} {self.state} {self.code} {self.reason} media={self.media}>"

    def _state_changed(self, info: pj.CallInfo) -> None:
        self.state = _STATES[info.state]
        self.states.append(self.state)
        self.code, self.reason = info.lastStatusCode, info.lastReason
        self.remote_uri, self.call_id = info.remoteUri, info.callIdString
        if self.state == "DISCONNECTED":
            # Let the pjsua2 Call go now, while its slot is still this call's: deleted later, it would clear
            # the callbacks of (and hang up) a new call that reused the slot.
            self.stop_tone()
            self._pj.owner = self._pj = None

    def _transfer_status(self, code: int, final: bool) -> None:
        self.transfer_statuses.append(code)
        self.transfer_done = self.transfer_done or final

    def _transaction(self, tsx: pj.SipTransaction) -> None:
        if tsx.state == pj.PJSIP_TSX_STATE_COMPLETED:
            self.transactions.append(("uac" if tsx.role == pj.PJSIP_ROLE_UAC else "uas", tsx.method, tsx.statusCode))

    def count(self, role: str, method: str, status: int = 200) -> int:
        """How many `method` transactions of this call (`role` "uac": sent, "uas": received) ended with `status`."""
        return self.transactions.count((role, method, status))

    def _media_changed(self, info: pj.CallInfo) -> None:
        self.media_updates += 1
        index = self._audio_index(info)
        if index is None:
            return
        media = info.media[index]
        self.media, self.direction = _MEDIA_STATUS[media.status], _DIRECTIONS[media.dir]
        if media.status in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
            self.codec = self._pj.getStreamInfo(index).codecName
            if self._tone:
                self._tone.startTransmit(self._pj.getAudioMedia(index))

    @staticmethod
    def _audio_index(info: pj.CallInfo) -> int | None:
        return next((i for i, m in enumerate(info.media) if m.type == pj.PJMEDIA_TYPE_AUDIO), None)

    def _live(self) -> _PjCall:
        if self._pj is None:
            raise RuntimeError(f"call already ended: {self!r}")
        return self._pj

    def _send(self, method, code: int | None = None) -> None:
        prm = pj.CallOpParam(True)
        if code:
            prm.statusCode = code
        method(prm)

    def wait(self, state: str, timeout: float = 5.0) -> PhoneCall:
        """Wait until the call has passed through `state` (e.g. "EARLY", "CONFIRMED", "DISCONNECTED")."""
        wait_until(lambda: state in self.states, timeout, f"{self.phone.user}'s call to reach {state} ({self!r})")
        return self

    def answer(self, code: int = 200, timeout: float = 5.0) -> None:
        self.answered = code >= 200
        self._send(self._live().answer, code)
        if code == 200:
            self.wait("CONFIRMED", timeout)

    def reject(self, code: int = 486, timeout: float = 5.0) -> None:
        self.answered = True
        self._send(self._live().hangup, code)
        self.wait("DISCONNECTED", timeout)

    def hangup(self, code: int | None = None, timeout: float = 5.0) -> None:
        """BYE when answered, CANCEL while ringing out, `code` (default 603) when ringing in."""
        self.answered = True
        self._send(self._live().hangup, code)
        self.wait("DISCONNECTED", timeout)

    def _hangup_now(self) -> None:
        if self._pj is not None:
            self._send(self._pj.hangup)

    def hold(self, timeout: float = 5.0) -> None:
        """re-INVITE with a=sendonly; waits until the hold is in place."""
        self._send(self._live().setHold)
        wait_until(lambda: self.media == "local_hold", timeout, f"{self.phone.user} to hold ({self!r})")

    def hold_refused(self, timeout: float = 5.0) -> None:
        """re-INVITE with a=sendonly that the far end refuses; waits for the refusal."""
        done = len(self.transactions)
        self._send(self._live().setHold)
        wait_until(
            lambda: any(m == "INVITE" and s >= 300 for _, m, s in self.transactions[done:]),
            timeout,
            f"{self.phone.user}'s hold to be refused ({self!r})",
        )

    def update(self, timeout: float = 5.0) -> None:
        """UPDATE with a new offer (early or confirmed dialog); waits for its 200."""
        done = self.count("uac", "UPDATE")
        self._send(self._live().update)
        wait_until(lambda: self.count("uac", "UPDATE") > done, timeout, f"{self.phone.user}'s UPDATE ({self!r})")

    def unhold(self, timeout: float = 5.0) -> None:
        prm = pj.CallOpParam(True)
        prm.opt.flag |= pj.PJSUA_CALL_UNHOLD
        self._live().reinvite(prm)
        wait_until(lambda: self.media == "active", timeout, f"{self.phone.user} to resume ({self!r})")

    def transfer(self, target: str) -> None:
        """Blind transfer: REFER the far end to `target` (a number in the registered realm, or a SIP URI)."""
        if not target.startswith(("sip:", "sips:")):
            target = f"sip:{target}@{self.phone.realm}"
        self._live().xfer(target, pj.CallOpParam(True))

    def transfer_replacing(self, other: PhoneCall) -> None:
        """Attended transfer: REFER the far end to `other`'s far end, Replaces naming `other`'s dialog."""
        self._live().xferReplaces(other._live(), pj.CallOpParam(True))

    def wait_transfer(self, timeout: float = 10.0) -> int:
        """Wait for the final NOTIFY of our REFER; its status."""
        wait_until(lambda: self.transfer_done, timeout, f"{self.phone.user}'s transfer to end ({self!r})")
        return self.transfer_statuses[-1]

    def send_tone(self, freq: int) -> None:
        """Send a continuous sine of `freq` Hz into the call (kept across re-INVITEs)."""
        self.stop_tone()
        tone = pj.ToneDesc()
        tone.freq1, tone.freq2, tone.on_msec, tone.off_msec = freq, 0, 1000, 0
        tones = pj.ToneDescVector()
        tones.append(tone)
        self._tone = pj.ToneGenerator()
        self._tone.createToneGenerator()
        self._tone.play(tones, True)
        info = self._live().getInfo()
        index = self._audio_index(info)
        if index is not None and info.media[index].status != pj.PJSUA_CALL_MEDIA_NONE:
            self._tone.startTransmit(self._live().getAudioMedia(index))

    def stop_tone(self) -> None:
        if self._tone is not None:
            self._tone.stop()
            self._tone = None

    def listen(self, seconds: float = 0.6) -> Recording:
        """Record what this phone receives on the call for `seconds`."""
        index = self._audio_index(self._live().getInfo())
        if index is None:
            raise RuntimeError(f"no audio in {self!r}")
        path = self.phone.lab.dir / f"{self.phone.user}-{id(self)}-{time.monotonic_ns()}.wav"
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(str(path))
        media = self._live().getAudioMedia(index)
        media.startTransmit(recorder)
        pump(seconds)
        if self._pj is not None:
            media.stopTransmit(recorder)
        del recorder  # the conference bridge closes the WAV file on one of its next ticks
        try:
            wait_until(lambda: _wav_complete(path), 2.0, f"the recording {path.name} to be written")
            return Recording.load(path)
        finally:
            path.unlink()

    def hears(self, freq: int, seconds: float = 0.6) -> bool:
        return self.listen(seconds).has_tone(freq)


@dataclass
class Recording:
    """Mono 16-bit PCM received by a phone, with a Goertzel tone detector."""

    samples: array
    rate: int
    block_seconds = 0.04

    @classmethod
    def load(cls, path: Path) -> Recording:
        with wave.open(str(path), "rb") as wav:
            samples = array("h", wav.readframes(wav.getnframes()))
            return cls(samples, wav.getframerate())

    def blocks(self) -> list[array]:
        size = int(self.rate * self.block_seconds)
        return [self.samples[i : i + size] for i in range(0, len(self.samples) - size + 1, size)]

    def level(self) -> float:
        """RMS of the whole recording (full scale 32767)."""
        return _rms(self.samples)

    def share(self, freq: float, min_rms: float = 300.0) -> float:
        """Median over audible 40 ms blocks of the part of their energy at `freq` (1.0 = a pure tone)."""
        shares = [_tone_share(b, self.rate, freq) for b in self.blocks() if _rms(b) >= min_rms]
        if len(shares) < len(self.blocks()) / 2:
            return 0.0
        return statistics.median(shares)

    def has_tone(self, freq: float, min_share: float = 0.6) -> bool:
        return self.share(freq) >= min_share


def _wav_complete(path: Path) -> bool:
    """pjmedia fills in the WAV header's sizes only when it closes the file."""
    with path.open("rb") as wav:
        header = wav.read(8)
    return len(header) == 8 and int.from_bytes(header[4:], "little") > 0


def _rms(samples: array) -> float:
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def _tone_share(samples: array, rate: int, freq: float) -> float:
    """Goertzel power at `freq` over the block's energy, normalised so a pure sine at `freq` gives 1."""
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    prev = prev2 = 0.0
    energy = 0.0
    for sample in samples:
        prev, prev2 = sample + coeff * prev - prev2, prev
        energy += sample * sample
    power = prev * prev + prev2 * prev2 - coeff * prev * prev2
    return 2 * power / (len(samples) * energy) if energy else 0.0


def limit_codecs(sdp: str, codecs: Sequence[str]) -> str:
    """Keep only `codecs` ("PCMU", "G722", "speex/16000"...), in that order, in the SDP's audio streams.

    telephone-event stays. A phone with a codec list of its own is how tests force a codec mismatch.
    """
    out: list[str] = []
    media = ""
    keep: set[str] = set()
    for line in sdp.splitlines():
        if line.startswith("m="):
            media = line[2:].split(" ", 1)[0]
            if media == "audio":
                line, keep = _audio_line(line, sdp, codecs)
        elif (
            media == "audio"
            and line.startswith(("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"))
            and line.split(":", 1)[1].split(" ", 1)[0] not in keep
        ):
            continue
        out.append(line)
    return "\r\n".join(out) + "\r\n"


def _audio_line(m_line: str, sdp: str, codecs: Sequence[str]) -> tuple[str, set[str]]:
    head, payloads = m_line.split(" ")[:3], m_line.split(" ")[3:]
    names = dict(_STATIC_PAYLOADS)
    for line in sdp.splitlines():
        if line.startswith("a=rtpmap:"):
            payload, name = line[9:].split(" ", 1)
            names[payload] = name
    chosen = [p for codec in codecs for p in payloads if _matches(names.get(p, ""), codec)]
    chosen += [p for p in payloads if names.get(p, "").lower().startswith("telephone-event/")]
    return " ".join(head + chosen), set(chosen)


def _matches(rtpmap: str, codec: str) -> bool:
    if "/" in codec:
        return rtpmap.lower().startswith(codec.lower())
    return rtpmap.split("/", 1)[0].lower() == codec.lower()


@pytest.fixture
def phones():
    """Factory fixture: `phones(user, transport="udp", codecs=..., prack=False)` -> Phone, all closed after the
    test."""
    made: list[Phone] = []

    def make(
        user: str = "phone", transport: str = "udp", codecs: Sequence[str] = DEFAULT_CODECS, prack: bool = False
    ) -> Phone:
        made.append(Phone(user, transport, codecs, prack))
        return made[-1]

    yield make
    for phone in made:
        if phone in phone.lab.phones:
            phone.close()
