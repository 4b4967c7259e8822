"""Bearer-token authentication, as the original pfioh/pman did it (pfmisc Auth), done safely.

Tokens come from a file: every value in the ``[AUTH TOKENS]`` section of a ``.cfg`` file, or one
token per line for any other file.  A request carries ``Authorization: Bearer <token>`` (the scheme
in any case, as pfurl sends ``bearer``); any other scheme, or more words, is refused.  Tokens are
compared in constant time and never logged.
"""
from __future__ import annotations

import configparser
import enum
import hmac
import ipaddress
from dataclasses import dataclass
from pathlib import Path

SECTION = "AUTH TOKENS"
# Headers that carry credentials: never echoed back nor logged (lower case).
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-auth-token", "x-storage-token"})


class TokenFileError(Exception):
    """The token file is missing, unreadable or holds no token."""


class Verdict(enum.Enum):
    ok = "ok"
    missing = "missing"
    malformed = "malformed"
    invalid = "invalid"


@dataclass(frozen=True)
class TokenStore:
    """The set of valid tokens.  ``repr`` never shows them."""

    tokens: tuple[bytes, ...]
    source: str = ""

    def __repr__(self) -> str:
        return f"TokenStore(source={self.source!r}, count={len(self.tokens)})"

    @classmethod
    def from_file(cls, path: str | Path) -> "TokenStore":
        """Read tokens from ``path``.

        :raises TokenFileError: if the file is missing, unparsable or holds no token.
        """
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as e:
            raise TokenFileError(f"{path}: cannot read token file ({e.strerror})") from e
        if path.suffix == ".cfg":
            tokens = _cfg_tokens(text, path)
        else:
            tokens = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
        if not tokens:
            raise TokenFileError(f"{path}: no token found (expected [{SECTION}] entries)")
        return cls(tuple(t.encode() for t in tokens), str(path))

    def check(self, authorization: str | None) -> Verdict:
        """Judge an ``Authorization`` header value."""
        if not (authorization or "").strip():
            return Verdict.missing
        # pfurl appends its header again on every request of a push, so the server sees it repeated,
        # joined with commas: the same credential repeated is one credential.
        credentials = {" ".join(part.split()) for part in authorization.split(",")}
        words = credentials.pop().split() if len(credentials) == 1 else []
        if len(words) != 2 or words[0].lower() != "bearer":
            return Verdict.malformed
        offered = words[1].encode()
        # Compare against every token (no early exit), each comparison constant-time.
        matched = False
        for token in self.tokens:
            matched |= hmac.compare_digest(offered, token)
        return Verdict.ok if matched else Verdict.invalid

    def refusal(self, authorization: str | None) -> str | None:
        """Why a request carrying this header must be refused (a 401), or None if it may pass.

        Both services word their 401s this way; each raises its own exception with the text.
        """
        verdict = self.check(authorization)
        if verdict is Verdict.missing:
            return "missing token: send 'Authorization: Bearer <token>'"
        if verdict is Verdict.malformed:
            return "malformed Authorization header: send 'Authorization: Bearer <token>'"
        if verdict is Verdict.invalid:
            return "invalid token"
        return None


def _cfg_tokens(text: str, path: Path) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as e:
        raise TokenFileError(f"{path}: not a valid .cfg file ({e.__class__.__name__})") from e
    if not parser.has_section(SECTION):
        raise TokenFileError(f"{path}: missing section [{SECTION}]")
    return [value.strip() for value in parser[SECTION].values() if value.strip()]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) reaches only this machine."""
    if host.strip().lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def exposure_problem(host: str, *, token_auth: bool, insecure_open: bool, flag: str) -> str | None:
    """Why serving on ``host`` is refused, or None.  Without token auth, only loopback is served,
    unless the operator opted into an open development server (``flag``): anyone who reaches an
    open pman runs commands on its host.
    """
    if token_auth or insecure_open or is_loopback(host):
        return None
    return (f"refusing to serve {host} without token auth: anyone who can reach it could use the "
            f"service. Turn on --enableTokenAuth (with --tokenPath), listen on 127.0.0.1, or pass "
            f"{flag} for an open development server")
