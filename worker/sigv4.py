"""`auth: {type: sigv4}`: every call signed with AWS Signature Version 4 by the execution role.

botocore's signer over the exact method, URL, headers and body bytes the worker sends, so
what is signed is what goes on the wire. The credentials come from the boto3 session's
credential provider on every call, not a copy taken at the cold start: on Lambda the role's
credentials are temporary, and a refreshable provider hands out the rotated ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from urllib.parse import urlsplit

import boto3
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError

from fanout.errors import ConfigError, RetryableError
from worker.auth import OutgoingCall

DEFAULT_PORTS = {"http": 80, "https": 443}
# The body's SHA-256 as a signed header: S3 requires it, and other services (API Gateway,
# OpenSearch, Lambda function URLs) accept it, so one form serves them all.
CONTENT_SHA256 = "X-Amz-Content-Sha256"


def host_header(url: str) -> str:
    """The Host header for `url` as SigV4 signs it: lower case, no default port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


class SigV4Signer:
    def __init__(self, session: boto3.Session, service: str, region: str) -> None:
        if not region:
            raise ConfigError("auth sigv4: no region given and the worker's region is unknown")
        credentials = session.get_credentials()
        if credentials is None:
            raise ConfigError("auth sigv4: the worker has no AWS credentials to sign with")
        self._credentials = credentials
        self._service = service
        self._region = region
        self._signer = S3SigV4Auth if service == "s3" else SigV4Auth

    def headers_for(self, call: OutgoingCall) -> Mapping[str, str]:
        try:
            # One consistent triple (a refreshable provider may rotate between attribute reads).
            frozen = self._credentials.get_frozen_credentials()
        except (BotoCoreError, ClientError) as exc:
            raise RetryableError(f"sigv4: the role's credentials could not be refreshed: {exc}") from None
        if not frozen.access_key or not frozen.secret_key:
            raise RetryableError("sigv4: the role's credentials are incomplete")
        headers = {**call.headers, "Host": host_header(call.url)}
        headers[CONTENT_SHA256] = hashlib.sha256(call.body).hexdigest()
        request = AWSRequest(method=call.method, url=call.url, headers=headers, data=call.body)
        self._signer(
            Credentials(frozen.access_key, frozen.secret_key, frozen.token), self._service, self._region
        ).add_auth(request)
        signed = {name: request.headers[name] for name in ("Authorization", "X-Amz-Date", CONTENT_SHA256)}
        if frozen.token:
            signed["X-Amz-Security-Token"] = frozen.token
        signed["Host"] = headers["Host"]
        return signed

    def renew(self, refused: Mapping[str, str]) -> bool:
        return False  # the provider refreshes the role's credentials before they expire

    def refusal(self, status: int, renewed: bool) -> str:
        reason = f"the API refused the SigV4 signature (service {self._service}, region {self._region})"
        if self._service == "execute-api":
            reason += "; may the worker's role call it (template parameter ApiInvokeArn)?"
        return reason
