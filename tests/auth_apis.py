"""Loopback stand-ins for APIs that want credentials, and an OAuth2 token endpoint.

Each check is a `decide` for infra/demo/api.py's DemoApi: it answers 401 or 403 as the real
service would (API Gateway's IAM auth, an API key, a Bearer token) and counts what it refused.
The SigV4 check recomputes the signature with botocore from the same credentials the signer
should have used, over the method, path, signed headers and body bytes that arrived.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from infra.demo.api import LOOPBACK, Call, Reply

REFUSED = b'{"message":"Unauthorized"}'
SIGV4_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
    r"/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)
# API Gateway refuses a signature dated more than five minutes away from its clock.
SIGV4_MAX_SKEW_S = 300


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A request header by name, in any case (DemoApi keeps them as sent)."""
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


class Counted:
    """Counts the calls a check let through and the ones it refused, each with the reason."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.accepted = 0
        self.refusals: list[str] = []

    def verdict(self, problem: str | None, status: int = 401) -> Reply:
        with self._lock:
            if problem is None:
                self.accepted += 1
                return Reply()
            self.refusals.append(problem)
        return Reply(status, body=json.dumps({"message": problem}).encode())


class ApiKeyCheck(Counted):
    def __init__(self, name: str, key: str) -> None:
        super().__init__()
        self.name, self.key = name, key

    def __call__(self, call: Call) -> Reply:
        sent = header(call.headers, self.name)
        return self.verdict(None if sent == self.key else f"no valid {self.name}", 401)


def sigv4_problem(
    call: Call, credentials: Credentials, service: str, region: str, now: datetime | None = None
) -> str | None:
    """Why the call's SigV4 signature is not valid for `credentials`, or None if it is."""
    headers = {k.lower(): v for k, v in call.headers.items()}
    match = SIGV4_AUTHORIZATION.fullmatch(headers.get("authorization", ""))
    if match is None:
        return "missing or malformed SigV4 Authorization header"
    if match["key"] != credentials.access_key:
        return f"unknown access key {match['key']}"
    if (match["region"], match["service"]) != (region, service):
        return f"signed for {match['region']}/{match['service']}, expected {region}/{service}"
    amz_date = headers.get("x-amz-date", "")
    if not amz_date.startswith(match["date"]):
        return "X-Amz-Date does not match the credential scope"
    signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if abs(((now or datetime.now(UTC)) - signed_at).total_seconds()) > SIGV4_MAX_SKEW_S:
        return "signature expired"
    signed = match["signed"].split(";")
    for required in ("host", "x-amz-date", "x-amz-content-sha256"):
        if required not in signed:
            return f"{required} is not signed"
    if headers["x-amz-content-sha256"] != hashlib.sha256(call.body).hexdigest():
        return "X-Amz-Content-Sha256 is not the SHA-256 of the body"
    request = AWSRequest(
        method=call.method,
        url=f"http://{headers['host']}{call.path}",
        headers={name: headers[name] for name in signed if name in headers},
        data=call.body,
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(credentials, service, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, match["signature"]):
        return "The request signature we calculated does not match the signature you provided."
    return None


class SigV4Check(Counted):
    """API Gateway with IAM auth: a call whose signature does not verify is refused with 403."""

    def __init__(self, credentials: Credentials, service: str = "execute-api", region: str = "us-east-1"):
        super().__init__()
        self.credentials, self.service, self.region = credentials, service, region

    def __call__(self, call: Call) -> Reply:
        return self.verdict(sigv4_problem(call, self.credentials, self.service, self.region), 403)


class _TokenServer(ThreadingHTTPServer):
    daemon_threads = True
    endpoint: TokenEndpoint


class _TokenHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _TokenServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        status, answer = self.server.endpoint.grant(dict(self.headers.items()), parse_qs(body))
        raw = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


_ISSUED: list[str] = []  # every token any TokenEndpoint of this process handed out


class TokenEndpoint:
    """An OAuth2 token endpoint (client credentials grant) whose tokens last `lifetime_s`.

    `failing` answers that many token requests with 503 first. As a check for DemoApi, it lets
    through calls that carry a token it issued and that has not expired.
    """

    def __init__(self, client_id: str, client_secret: str, lifetime_s: float, scope: str = "") -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.lifetime_s, self.scope = lifetime_s, scope
        self.failing = 0
        self.requests = 0
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}
        self.check = Counted()
        self._server = _TokenServer((LOOPBACK, 0), _TokenHandler)
        self._server.endpoint = self

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}/oauth2/token"

    @property
    def issued(self) -> int:
        """Tokens handed out."""
        with self._lock:
            return len(self._expiry)

    def grant(self, headers: Mapping[str, str], form: Mapping[str, list[str]]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests += 1
            if self.failing:
                self.failing -= 1
                return 503, {"error": "temporarily_unavailable"}
        if form.get("grant_type") != ["client_credentials"]:
            return 400, {"error": "unsupported_grant_type"}
        if self._client(headers, form) != (self.client_id, self.client_secret):
            return 401, {"error": "invalid_client", "error_description": "client authentication failed"}
        if form.get("scope", [""]) != [self.scope]:
            return 400, {"error": "invalid_scope"}
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._expiry[token] = time.monotonic() + self.lifetime_s
            _ISSUED.append(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime_s}

    @staticmethod
    def every_token_issued() -> list[str]:
        """For tests that search logs and dead letters: no token may appear there either."""
        return list(_ISSUED)

    def revoke_all(self) -> None:
        """Every token issued so far stops working (as a revocation or a key rotation does)."""
        with self._lock:
            for token in self._expiry:
                self._expiry[token] = 0.0

    def _client(self, headers: Mapping[str, str], form: Mapping[str, list[str]]) -> tuple[str, str]:
        basic = header(headers, "Authorization") or ""
        if basic.startswith("Basic "):
            user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
            return unquote_plus(user), unquote_plus(password)
        return form.get("client_id", [""])[0], form.get("client_secret", [""])[0]

    def __call__(self, call: Call) -> Reply:
        """The API's check: a live token of ours as `Authorization: Bearer ...`."""
        sent = (header(call.headers, "Authorization") or "").removeprefix("Bearer ")
        with self._lock:
            expiry = self._expiry.get(sent)
        if expiry is None:
            return self.check.verdict("unknown token")
        return self.check.verdict("token expired" if time.monotonic() >= expiry else None)

    def __enter__(self) -> TokenEndpoint:
        threading.Thread(target=self._server.serve_forever, name="token-endpoint", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
