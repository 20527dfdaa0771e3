"""Who may command the host: the operator token, or a console session opened with it.

Two ways in, one check (``Auth.operator``):
- ``Authorization: Bearer TOKEN`` (scripts, Companion, remote adapters): no cookie, so no CSRF risk;
- a console session: ``POST /console/login`` with the token sets an HttpOnly, SameSite=Strict
  cookie; every state-changing request from the page must also carry the session's CSRF token in
  ``X-CSRF-Token`` (a page on another site can make the browser send the cookie, never the header).
Tokens are compared in constant time. Sessions live in memory and end at logout, after
``SESSION_S`` or when the host stops.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from starlette.requests import HTTPConnection

COOKIE = "buzzline_session"
CSRF_HEADER = "x-csrf-token"
SESSION_S = 12 * 3600
MAX_SESSIONS = 64


@dataclass
class Session:
    sid: str
    csrf: str
    expires: float


class Auth:
    def __init__(self, token: str) -> None:
        self.token = token
        self.sessions: dict[str, Session] = {}

    def token_ok(self, given: str | None) -> bool:
        if not isinstance(given, str) or not given:
            return False
        return hmac.compare_digest(given.encode(), self.token.encode())

    def bearer_ok(self, conn: HTTPConnection) -> bool:
        header = conn.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and self.token_ok(value.strip())

    def login(self) -> Session:
        now = time.monotonic()
        for sid in [s for s, v in self.sessions.items() if v.expires < now]:
            del self.sessions[sid]
        while len(self.sessions) >= MAX_SESSIONS:  # the oldest goes first
            del self.sessions[min(self.sessions, key=lambda s: self.sessions[s].expires)]
        s = Session(secrets.token_urlsafe(24), secrets.token_urlsafe(24), now + SESSION_S)
        self.sessions[s.sid] = s
        return s

    def logout(self, conn: HTTPConnection) -> None:
        s = self.session(conn)
        if s is not None:
            self.sessions.pop(s.sid, None)

    def session(self, conn: HTTPConnection) -> Session | None:
        sid = conn.cookies.get(COOKIE)
        if not sid:
            return None
        s = self.sessions.get(sid)
        if s is None or s.expires < time.monotonic():
            return None
        return s

    def operator(self, conn: HTTPConnection, write: bool = True) -> tuple[int, str] | None:
        """None when the request may act as the operator, else (401 or 403, why not)."""
        if self.bearer_ok(conn):
            return None
        s = self.session(conn)
        if s is None:
            return 401, "operator token required (Authorization: Bearer TOKEN, or log in at /console)"
        given = conn.headers.get(CSRF_HEADER, "")
        if write and not hmac.compare_digest(given.encode(), s.csrf.encode()):
            return 403, "the console session's CSRF token is missing or wrong (X-CSRF-Token)"
        return None
