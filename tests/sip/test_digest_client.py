"""The client side of digest authentication (answering a gateway's challenge), checked by the server side of the
same module as a registrar would check it: MD5 and SHA-256 with qop=auth, a legacy challenge without qop, and
challenges it must not answer."""

from __future__ import annotations

import pytest

from cloudpbx.sip.digest import OK, Digest, answer_challenge
from cloudpbx.sip.headers import parse_auth

URI = "sip:+14155550123@carrier.test"


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_an_answer_passes_the_verifier_with_the_right_password_only(algorithm):
    digest = Digest(algorithms=(algorithm,))
    [challenge] = digest.challenges("carrier.test")
    right = answer_challenge(challenge, "INVITE", URI, "trunk7", "s3cret")
    wrong = answer_challenge(challenge, "INVITE", URI, "trunk7", "not-it")
    assert right is not None and wrong is not None
    assert digest.verify(parse_auth(right)[1], "INVITE", "s3cret") == OK
    assert digest.verify(parse_auth(wrong)[1], "INVITE", "s3cret") != OK
    params = parse_auth(right)[1]
    assert (params["username"], params["uri"], params["qop"], params["algorithm"]) == ("trunk7", URI, "auth", algorithm)


def test_a_challenge_without_qop_gets_a_legacy_answer_and_opaque_is_returned():
    digest = Digest(algorithms=("MD5",))
    challenge = digest.challenges("carrier.test")[0].replace(', qop="auth"', "") + ', opaque="x\\"y"'
    params = parse_auth(answer_challenge(challenge, "INVITE", URI, "trunk7", "s3cret") or "")[1]
    assert "qop" not in params and "nc" not in params and params["opaque"] == 'x"y'
    assert digest.verify(params, "INVITE", "s3cret") == OK


@pytest.mark.parametrize(
    "challenge",
    [
        'Basic realm="carrier.test"',
        'Digest realm="carrier.test", nonce="n", algorithm=SHA-512-256',
        'Digest realm="carrier.test", nonce="n", qop="auth-int"',
    ],
)
def test_challenges_it_cannot_answer_get_no_answer(challenge):
    assert answer_challenge(challenge, "INVITE", URI, "trunk7", "s3cret") is None
