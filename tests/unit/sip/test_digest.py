"""Digest authentication against the worked examples of RFC 2617 and RFC 7616."""

from __future__ import annotations

import hashlib
import re

import pytest

from switchboard.sip.digest import DigestChallenge, DigestError, DigestSession, authorization


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def params(header: str) -> dict[str, str]:
    assert header.startswith("Digest ")
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', header)}


RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)


def test_rfc2617_worked_example() -> None:
    challenge = DigestChallenge.parse(RFC2617_CHALLENGE)
    assert challenge.qop == ("auth", "auth-int")
    header = authorization(
        challenge,
        username="Mufasa",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        cnonce="0a4f113b",
        nc=1,
    )
    got = params(header)
    assert got["response"] == "6629fae49393a05397450978507c4ef1"
    assert got["opaque"] == "5ccc069c403ebaf9f0171e9517f40e41"
    # qop and nc are tokens in credentials (RFC 2617 3.2.2), cnonce is quoted.
    assert "qop=auth," in header and "nc=00000001" in header and 'cnonce="0a4f113b"' in header


RFC7616_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg}, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ],
)
def test_rfc7616_worked_examples(algorithm: str, expected: str) -> None:
    challenge = DigestChallenge.parse(RFC7616_CHALLENGE.format(alg=algorithm))
    header = authorization(
        challenge,
        username="Mufasa",
        password="Circle of Life",
        method="GET",
        uri="/dir/index.html",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        nc=1,
    )
    assert params(header)["response"] == expected
    assert f"algorithm={algorithm}" in header


def test_md5_sess_hashes_the_nonce_and_cnonce_into_ha1() -> None:
    challenge = DigestChallenge.parse('Digest realm="r", nonce="n", qop="auth", algorithm=MD5-sess')
    header = authorization(
        challenge, username="u", password="p", method="INVITE", uri="sip:x@y", cnonce="c", nc=2
    )
    ha1 = md5(f"{md5('u:r:p')}:n:c")
    expected = md5(f"{ha1}:n:00000002:c:auth:{md5('INVITE:sip:x@y')}")
    assert params(header)["response"] == expected
    assert "nc=00000002" in header


def test_without_qop_is_rfc2069_style() -> None:
    challenge = DigestChallenge.parse('Digest realm="trunk", nonce="abc"')
    header = authorization(challenge, username="u", password="p", method="BYE", uri="sip:a@b")
    expected = md5(f"{md5('u:trunk:p')}:abc:{md5('BYE:sip:a@b')}")
    assert params(header)["response"] == expected
    assert "qop" not in header and "cnonce" not in header and "nc=" not in header


def test_auth_int_only_hashes_the_body() -> None:
    challenge = DigestChallenge.parse('Digest realm="r", nonce="n", qop="auth-int"')
    body = b"v=0\r\n"
    header = authorization(
        challenge, username="u", password="p", method="INVITE", uri="sip:x", body=body, cnonce="c"
    )
    ha2 = md5(f"INVITE:sip:x:{hashlib.md5(body).hexdigest()}")
    assert params(header)["response"] == md5(f"{md5('u:r:p')}:n:00000001:c:auth-int:{ha2}")


def test_quoted_values_keep_commas_and_escapes() -> None:
    challenge = DigestChallenge.parse(
        'Digest realm="a, \\"quoted\\" realm",nonce="x,y" , stale=TRUE'
    )
    assert challenge.realm == 'a, "quoted" realm'
    assert challenge.nonce == "x,y"
    assert challenge.stale


@pytest.mark.parametrize(
    "value",
    [
        'Basic realm="x"',
        'Digest nonce="only"',
        'Digest realm="r", nonce="n", algorithm=SHA-512-256',
        'Digest realm="r", nonce="n", qop="auth-conf"',
        'Digest realm="r" nonce="n"',
        "Digest realm=",
    ],
)
def test_unanswerable_challenges_are_digest_errors(value: str) -> None:
    with pytest.raises(DigestError):
        challenge = DigestChallenge.parse(value)
        authorization(challenge, username="u", password="p", method="INVITE", uri="sip:x")


def test_session_retries_once_per_realm_unless_stale() -> None:
    session = DigestSession("u", "p")
    challenge = [("WWW-Authenticate", 'Digest realm="r", nonce="n1"')]
    assert session.learn(challenge)
    assert [name for name, _ in session.headers("INVITE", "sip:x")] == ["Authorization"]
    # The same realm again: the password was refused, a retry would loop.
    assert not session.learn([("WWW-Authenticate", 'Digest realm="r", nonce="n2"')])
    assert session.learn([("WWW-Authenticate", 'Digest realm="r", nonce="n3", stale=true')])
    # A proxy challenging as well: both credentials go on the next request.
    assert session.learn([("Proxy-Authenticate", 'Digest realm="proxy", nonce="m"')])
    names = sorted(name for name, _ in session.headers("INVITE", "sip:x"))
    assert names == ["Authorization", "Proxy-Authorization"]


def test_session_counts_requests_per_nonce() -> None:
    session = DigestSession("u", "p")
    session.learn([("WWW-Authenticate", 'Digest realm="r", nonce="n", qop="auth"')])
    first = session.headers("INVITE", "sip:x")[0][1]
    second = session.headers("BYE", "sip:x")[0][1]
    assert "nc=00000001" in first and "nc=00000002" in second
