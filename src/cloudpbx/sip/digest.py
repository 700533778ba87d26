"""Digest authentication (RFC 3261 22.4, RFC 7616, RFC 8760): MD5 and SHA-256 with qop=auth.

Nonces are stateless: the issue time (ms) and a salt, signed with a key of this process (HMAC-SHA256), bound to the
realm. An expired nonce with an otherwise correct answer is `STALE` (the phone retries at once, `stale=true`).
Replays are refused by remembering the highest nonce count seen per nonce while the nonce lives.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque

from cloudpbx.ids import random_hex
from cloudpbx.sip.headers import parse_auth, quote

ALGORITHMS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
OK, STALE, FAILED, REPLAYED = "ok", "stale", "failed", "replayed"
_NO_QOP_COUNT = 1  # a legacy answer (no qop, no nc) may be used once


class Digest:
    """Issues challenges and checks answers; one per process (the signing key lives only in memory)."""

    def __init__(
        self, *, nonce_ttl: float = 300.0, algorithms: tuple[str, ...] = ("MD5", "SHA-256"), key: bytes | None = None
    ):
        self.nonce_ttl = nonce_ttl
        self.algorithms = algorithms
        self._key = key or secrets.token_bytes(32)
        self._counts: dict[str, int] = {}  # nonce → highest nonce count accepted
        self._expiries: deque[tuple[float, str]] = deque()

    def challenges(self, realm: str, *, stale: bool = False) -> list[str]:
        """One WWW-/Proxy-Authenticate value per algorithm, sharing one nonce (clients that see only the
        first challenge still get MD5)."""
        nonce = self._nonce(realm)
        tail = ", stale=true" if stale else ""
        return [
            f'Digest realm="{realm}", nonce="{nonce}", algorithm={name}, qop="auth"{tail}' for name in self.algorithms
        ]

    def _nonce(self, realm: str) -> str:
        body = f"{int(time.time() * 1000):x}.{random_hex(4)}"
        return f"{body}.{self._sign(body, realm)}"

    def _sign(self, body: str, realm: str) -> str:
        """A keyed BLAKE2b MAC (a MAC by design, and one C call where `hmac` is several Python ones)."""
        return hashlib.blake2b(f"{body}.{realm.lower()}".encode(), key=self._key, digest_size=12).hexdigest()

    def _issued(self, nonce: str, realm: str) -> float | None:
        """When the nonce was issued, if we issued it for this realm."""
        body, _, mac = nonce.rpartition(".")
        issued, _, _salt = body.partition(".")
        if not mac or not _same(mac, self._sign(body, realm)):
            return None
        try:
            return int(issued, 16) / 1000
        except ValueError:
            return None

    def verify(self, params: dict[str, str], method: str, password: str) -> str:
        """OK, STALE, FAILED or REPLAYED for the parsed Authorization parameters of a request.

        The `uri` parameter is hashed as sent, not compared with the Request-URI: clients differ there (SIPp
        answers with the server's address), and the nonce count already stops an answer from being used twice.
        """
        nonce, realm = params.get("nonce", ""), params.get("realm", "")
        hash_name = params.get("algorithm", "MD5").upper()
        issued = self._issued(nonce, realm)
        if issued is None or hash_name not in ALGORITHMS:
            return FAILED
        qop = params.get("qop", "").lower()
        expected = expected_response(hash_name, params, method, password)
        if qop not in ("", "auth") or not _same(expected, params.get("response", "").lower()):
            return FAILED
        if time.time() - issued > self.nonce_ttl:
            return STALE
        count = _nonce_count(params) if qop else _NO_QOP_COUNT
        if count is None:
            return FAILED
        return OK if self._use(nonce, count, issued) else REPLAYED

    def _use(self, nonce: str, count: int, issued: float) -> bool:
        now = time.time()
        while self._expiries and self._expiries[0][0] < now:
            self._counts.pop(self._expiries.popleft()[1], None)
        last = self._counts.get(nonce)
        if last is not None and count <= last:
            return False
        if last is None:
            self._expiries.append((issued + self.nonce_ttl, nonce))
        self._counts[nonce] = count
        return True


def _same(ours: str, theirs: str) -> bool:
    """Constant-time comparison that also copes with whatever bytes a client sent."""
    return hmac.compare_digest(ours.encode(), theirs.encode("utf-8", "surrogateescape"))


def _nonce_count(params: dict[str, str]) -> int | None:
    value = params.get("nc", "")
    if len(value) != 8:
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None


def expected_response(hash_name: str, params: dict[str, str], method: str, password: str) -> str:
    """The `response` a client knowing `password` computes (RFC 7616 3.4.1, without -sess)."""

    def h(text: str) -> str:
        return ALGORITHMS[hash_name](text.encode("utf-8", "surrogateescape")).hexdigest()

    ha1 = h(f"{params.get('username', '')}:{params.get('realm', '')}:{password}")
    ha2 = h(f"{method}:{params.get('uri', '')}")
    if params.get("qop"):
        return h(
            f"{ha1}:{params.get('nonce', '')}:{params.get('nc', '')}:{params.get('cnonce', '')}:"
            f"{params.get('qop', '').lower()}:{ha2}"
        )
    return h(f"{ha1}:{params.get('nonce', '')}:{ha2}")


def answer_challenge(challenge: str, method: str, uri: str, username: str, password: str) -> str | None:
    """The client side: the Authorization (or Proxy-Authorization) value answering one WWW-/Proxy-Authenticate
    `challenge` (RFC 7616 3.4 with qop=auth or none, MD5 or SHA-256); None when it asks for something else."""
    scheme, params = parse_auth(challenge)
    hash_name = params.get("algorithm", "MD5").upper()
    offered = [q.strip().lower() for q in params.get("qop", "").split(",") if q.strip()]
    if scheme != "digest" or hash_name not in ALGORITHMS or (offered and "auth" not in offered):
        return None
    answer = {"username": username, "realm": params.get("realm", ""), "nonce": params.get("nonce", ""), "uri": uri}
    if offered:
        answer.update(qop="auth", nc="00000001", cnonce=random_hex(8))
    answer["response"] = expected_response(hash_name, answer, method, password)
    quoted = ", ".join(f"{k}={quote(answer[k])}" for k in ("username", "realm", "nonce", "uri", "response"))
    tail = f", qop=auth, nc={answer['nc']}, cnonce={quote(answer['cnonce'])}" if offered else ""
    opaque = f", opaque={quote(params['opaque'])}" if "opaque" in params else ""
    return f"Digest {quoted}, algorithm={hash_name}{tail}{opaque}"
