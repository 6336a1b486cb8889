"""HTTP digest authentication as SIP uses it (RFC 2617, RFC 7616; RFC 3261 section 22).

Pure functions: a WWW-Authenticate / Proxy-Authenticate value in, an Authorization /
Proxy-Authorization value out. The caller supplies cnonce and nc so results are reproducible.
`DigestGuard` is the other side, for calls coming in: it challenges and checks credentials.

The challenge is parsed here rather than with sipmessage.AuthChallenge, because that parser
splits parameters on every comma, including the one inside `qop="auth,auth-int"`, which is the
form RFC 2617's own example and many servers use; it also quotes `qop` in credentials, which
RFC 2617 forbids.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

log = logging.getLogger("switchboard.sip")

_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}
# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_PARAM = re.compile(
    rf'\s*({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN}|[^\s,"]+))\s*(?:,|$)', re.DOTALL
)


class DigestError(ValueError):
    """The challenge is not a digest challenge we can answer."""


@dataclass(frozen=True)
class DigestChallenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    @classmethod
    def parse(cls, value: str) -> DigestChallenge:
        scheme, _, rest = value.strip().partition(" ")
        if scheme.lower() != "digest":
            raise DigestError(f"not a Digest challenge: {value!r}")
        params = _parse_params(rest)
        if "realm" not in params or "nonce" not in params:
            raise DigestError(f"Digest challenge without realm or nonce: {value!r}")
        algorithm = params.get("algorithm", "MD5").upper()
        base = algorithm.removesuffix("-SESS")
        if base not in _HASHES:
            raise DigestError(f"unsupported digest algorithm {algorithm!r}")
        qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
        return cls(
            realm=params["realm"],
            nonce=params["nonce"],
            algorithm=algorithm,
            qop=qop,
            opaque=params.get("opaque"),
            stale=params.get("stale", "").lower() == "true",
        )


def _parse_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    position = 0
    text = text.strip()
    while position < len(text):
        match = _PARAM.match(text, position)
        if match is None:
            raise DigestError(f"malformed digest parameters at {text[position:]!r}")
        name, quoted, token = match.groups()
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else token
        params[name.lower()] = value
        position = match.end()
    return params


def new_cnonce() -> str:
    return secrets.token_hex(8)


def authorization(
    challenge: DigestChallenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    body: bytes = b"",
    cnonce: str | None = None,
    nc: int = 1,
) -> str:
    """The credentials answering `challenge` for one request (method and request-URI)."""
    # Prefer qop=auth; auth-int only when it is all the server offers (it hashes the body).
    qop = "auth" if "auth" in challenge.qop else ("auth-int" if challenge.qop else None)
    if "auth" not in challenge.qop and challenge.qop and "auth-int" not in challenge.qop:
        raise DigestError(f"unsupported qop {','.join(challenge.qop)!r}")
    if cnonce is None:
        cnonce = new_cnonce()
    nc_text = f"{nc:08x}"

    response = _response(
        challenge.algorithm,
        username=username,
        realm=challenge.realm,
        password=password,
        nonce=challenge.nonce,
        method=method,
        uri=uri,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce,
        body=body,
    )

    parts = [
        f"username={_quote(username)}",
        f"realm={_quote(challenge.realm)}",
        f"nonce={_quote(challenge.nonce)}",
        f"uri={_quote(uri)}",
        f"response={_quote(response)}",
        f"algorithm={challenge.algorithm}",
    ]
    if challenge.opaque is not None:
        parts.append(f"opaque={_quote(challenge.opaque)}")
    if qop is not None:
        # RFC 2617 3.2.2: qop and nc are unquoted tokens, cnonce is quoted.
        parts += [f"qop={qop}", f"nc={nc_text}", f"cnonce={_quote(cnonce)}"]
    return "Digest " + ", ".join(parts)


def _response(
    algorithm: str,
    *,
    username: str,
    realm: str,
    password: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None,
    nc: str,
    cnonce: str,
    body: bytes = b"",
) -> str:
    """The `response` value of RFC 2617 3.2.2.1, as client and server both compute it."""
    hash_ = _HASHES[algorithm.upper().removesuffix("-SESS")]

    def h(text: str) -> str:
        return hash_(text.encode("utf-8"))

    ha1 = h(f"{username}:{realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    a2 = f"{method}:{uri}" if qop != "auth-int" else f"{method}:{uri}:{hash_(body)}"
    ha2 = h(a2)
    if qop is None:
        return h(f"{ha1}:{nonce}:{ha2}")
    return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


CHALLENGE_HEADERS = {
    "WWW-Authenticate": "Authorization",
    "Proxy-Authenticate": "Proxy-Authorization",
}


class DigestSession:
    """The challenges one call has been given, answered on every request that follows.

    A proxy (407) and the callee's registrar (401) may each challenge; both sets of credentials
    then go on the retried request. A realm challenged again without `stale=true` means our
    credentials were refused, and `learn` says there is nothing new to try.
    """

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password
        self._challenges: dict[tuple[str, str], DigestChallenge] = {}
        self._counts: dict[str, int] = {}

    def learn(self, headers: list[tuple[str, str]]) -> bool:
        """Take a 401/407's challenge headers; True if a retry could now succeed."""
        worth_retrying = False
        for name, value in headers:
            credentials_header = CHALLENGE_HEADERS.get(name)
            if credentials_header is None:
                continue
            try:
                challenge = DigestChallenge.parse(value)
            except DigestError as error:
                log.warning("cannot answer %s: %s", name, error)
                continue
            key = (credentials_header, challenge.realm)
            if key not in self._challenges or challenge.stale:
                worth_retrying = True
            self._challenges[key] = challenge
        return worth_retrying

    def headers(self, method: str, uri: str, body: bytes = b"") -> list[tuple[str, str]]:
        """Authorization / Proxy-Authorization headers for one new request."""
        result: list[tuple[str, str]] = []
        for (header, _realm), challenge in self._challenges.items():
            # nc counts the requests made with one nonce (RFC 7616 3.4).
            count = self._counts.get(challenge.nonce, 0) + 1
            self._counts[challenge.nonce] = count
            value = authorization(
                challenge,
                username=self._username,
                password=self._password,
                method=method,
                uri=uri,
                body=body,
                nc=count,
            )
            result.append((header, value))
        return result


class Verdict(Enum):
    ACCEPTED = "accepted"
    MISSING = "missing"  # no credentials for our realm: challenge
    STALE = "stale"  # right credentials on a nonce too old: challenge again with stale=true
    REFUSED = "refused"  # wrong user name or password, or a forged nonce


class DigestGuard:
    """The server side (RFC 3261 22.4, RFC 2617 3.2.2): challenge callers and check the
    credentials they answer with, against one configured user name and password.

    Nonces are stateless: the time they were issued and an HMAC of it under a key made at
    start, so nothing is stored per caller and a nonce from before a restart is merely stale.
    A nonce is good for `lifetime` seconds; within that time a captured INVITE's credentials
    could be replayed (nc values are not tracked), which is why a source list comes first.
    """

    def __init__(
        self,
        username: str,
        password: str,
        realm: str,
        *,
        lifetime: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.realm = realm
        self._username = username
        self._password = password
        self._lifetime = lifetime
        self._clock = clock
        self._key = secrets.token_bytes(32)

    def challenge(self, *, stale: bool = False) -> str:
        """A WWW-Authenticate value (RFC 2617 3.2.1): MD5 with qop=auth, which every SIP
        phone answers."""
        parts = [
            f"realm={_quote(self.realm)}",
            f"nonce={_quote(self._nonce(int(self._clock())))}",
            "algorithm=MD5",
            'qop="auth"',
        ]
        if stale:
            parts.append("stale=true")
        return "Digest " + ", ".join(parts)

    def check(self, method: str, authorizations: list[str]) -> tuple[Verdict, str]:
        """Judge a request's Authorization values; the text says why, for logs and Warning."""
        for value in authorizations:
            scheme, _, rest = value.strip().partition(" ")
            if scheme.lower() != "digest":
                continue
            try:
                params = _parse_params(rest)
            except DigestError:
                return Verdict.REFUSED, "malformed Authorization header"
            if params.get("realm") != self.realm:
                continue  # credentials for someone else (a proxy on the way)
            return self._judge(method, params)
        return Verdict.MISSING, "no credentials for realm " + self.realm

    def _judge(self, method: str, params: dict[str, str]) -> tuple[Verdict, str]:
        for name in ("username", "nonce", "uri", "response"):
            if name not in params:
                return Verdict.REFUSED, f"credentials without {name}"
        algorithm = params.get("algorithm", "MD5").upper()
        if algorithm != "MD5":
            return Verdict.REFUSED, f"algorithm {algorithm} was not offered (MD5 was)"
        qop = params.get("qop")
        if qop is not None and qop.lower() != "auth":
            return Verdict.REFUSED, f"qop {qop} was not offered (auth was)"
        if qop is not None and ("nc" not in params or "cnonce" not in params):
            return Verdict.REFUSED, "qop=auth credentials without nc or cnonce"
        issued = self._issued(params["nonce"])
        if issued is None:
            return Verdict.REFUSED, "a nonce we did not issue"
        expected = _response(
            "MD5",
            username=self._username,
            realm=self.realm,
            password=self._password,
            nonce=params["nonce"],
            method=method,
            uri=params["uri"],
            qop=qop.lower() if qop is not None else None,
            nc=params.get("nc", ""),
            cnonce=params.get("cnonce", ""),
        )
        # Both compared in constant time, so timing tells nothing about which was wrong.
        right_user = hmac.compare_digest(params["username"].encode(), self._username.encode())
        right_answer = hmac.compare_digest(params["response"].lower().encode(), expected.encode())
        if not (right_user and right_answer):
            return Verdict.REFUSED, "wrong user name or password"
        if self._clock() - issued > self._lifetime:
            return Verdict.STALE, "the nonce has expired"
        return Verdict.ACCEPTED, "accepted"

    def _nonce(self, issued: int) -> str:
        stamp = f"{issued:x}"
        return f"{stamp}.{self._mac(stamp)}"

    def _mac(self, stamp: str) -> str:
        return hmac.new(self._key, stamp.encode(), hashlib.sha256).hexdigest()[:32]

    def _issued(self, nonce: str) -> int | None:
        stamp, _, mac = nonce.partition(".")
        if not stamp or not hmac.compare_digest(mac.encode(), self._mac(stamp).encode()):
            return None
        try:
            return int(stamp, 16)
        except ValueError:
            return None
