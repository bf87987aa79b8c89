"""`auth: {type: oauth2}`: an access token from the client credentials grant (RFC 6749 4.4).

One token per execution environment, shared by its posting threads, fetched again shortly
before it expires and once more when the API answers 401 (it may have been revoked, or
expired early). The grant is one form POST, so no OAuth library: `requests`, with a timeout
and a limit on attempts. A token endpoint that is down is retryable (the row waits for a
later attempt or delivery); one that refuses the client's credentials is permanent, with its
reason, so rows under a wrong secret go to the dead-letter queue instead of round after round.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import requests
from botocore.exceptions import BotoCoreError, ClientError

from fanout.auth_spec import OAuth2
from fanout.backoff import backoff_delay
from fanout.errors import FanoutError, PermanentError, RetryableError
from worker.auth import OutgoingCall
from worker.secrets import CachedCredential

log = logging.getLogger("fanout.worker")

# One call to the token endpoint, connect and read.
TOKEN_TIMEOUT_S = 10.0
# Calls per fetch when the endpoint fails (5xx, 429, timeouts), with backoff between them.
TOKEN_ATTEMPTS = 3
TOKEN_BACKOFF_BASE_S = 0.2
TOKEN_BACKOFF_CAP_S = 2.0
# A token is replaced this long before it expires (at most), or at half its lifetime if that is
# sooner: a call signed just before the deadline still arrives in time on a slow network.
EXPIRY_MARGIN_S = 60.0
# After a fetch failed, calls in this window fail at once with the same reason rather than each
# calling the endpoint (eight threads a worker, hundreds of workers).
FAILED_FETCH_HOLD_S = 2.0
REFUSED_FETCH_HOLD_S = 30.0
# Enough of the endpoint's error_description to say what is wrong.
DESCRIPTION_CHARS = 200


@dataclass(frozen=True)
class _Token:
    header: str  # "Bearer <access token>"
    refresh_at: float  # on the clock of ClientCredentialsToken


class ClientCredentialsToken:
    def __init__(
        self,
        spec: OAuth2,
        client_secret: CachedCredential,
        post: Callable[..., requests.Response] = requests.post,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._spec = spec
        self._client_secret = client_secret
        self._post = post
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._token: _Token | None = None
        self._failure: tuple[FanoutError, float] | None = None  # the last failed fetch, until when

    def headers_for(self, call: OutgoingCall) -> Mapping[str, str]:
        with self._lock:
            if self._token is None or self._clock() >= self._token.refresh_at:
                self._token = self._fetch()
            return {"Authorization": self._token.header}

    def renew(self, refused: Mapping[str, str]) -> bool:
        with self._lock:
            if self._token is not None and self._token.header != refused.get("Authorization"):
                return True  # another thread has renewed it since this call was sent
            self._token = None
            self._token = self._fetch()
            return True

    def refusal(self, status: int, renewed: bool) -> str:
        token = "a freshly fetched OAuth2 token" if renewed else "the OAuth2 token"
        return f"the API refused {token} from {self._spec.token_url} (client {self._spec.client_id})"

    def _fetch(self) -> _Token:
        """A new token, or the reason there is none; called with the lock held."""
        if self._failure is not None:
            failure, until = self._failure
            if self._clock() < until:
                raise type(failure)(str(failure))
            self._failure = None
        try:
            return self._fetch_with_retries()
        except PermanentError as exc:
            self._failure = (exc, self._clock() + REFUSED_FETCH_HOLD_S)
            raise
        except RetryableError as exc:
            self._failure = (exc, self._clock() + FAILED_FETCH_HOLD_S)
            raise

    def _fetch_with_retries(self) -> _Token:
        for attempt in range(1, TOKEN_ATTEMPTS + 1):
            try:
                return self._request_token()
            except RetryableError as exc:
                log.warning(
                    "OAuth2 token endpoint failed (attempt %d of %d): %s", attempt, TOKEN_ATTEMPTS, exc
                )
                if attempt == TOKEN_ATTEMPTS:
                    raise
                self._sleep(backoff_delay(attempt, TOKEN_BACKOFF_BASE_S, TOKEN_BACKOFF_CAP_S))
        raise AssertionError("unreachable")

    def _request_token(self) -> _Token:
        spec = self._spec
        form = {"grant_type": "client_credentials"}
        if spec.scope:
            form["scope"] = spec.scope
        secret = self._secret()
        basic: tuple[str, str] | None = None
        if spec.client_auth == "basic":
            # RFC 6749 2.3.1: both are form-encoded before they go into the Basic header.
            basic = (quote_plus(spec.client_id), quote_plus(secret))
        else:
            form.update(client_id=spec.client_id, client_secret=secret)
        sent_at = self._clock()
        try:
            response = self._post(
                spec.token_url,
                data=form,
                auth=basic,
                headers={"Accept": "application/json"},
                timeout=TOKEN_TIMEOUT_S,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise RetryableError(f"OAuth2 token endpoint {spec.token_url}: {type(exc).__name__}") from None
        return self._token_from(response, sent_at)

    def _secret(self) -> str:
        try:
            return self._client_secret.value()
        except (BotoCoreError, ClientError) as exc:
            raise RetryableError(f"OAuth2 client secret could not be read: {type(exc).__name__}") from None

    def _token_from(self, response: requests.Response, sent_at: float) -> _Token:
        where = f"OAuth2 token endpoint {self._spec.token_url}"
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableError(f"{where}: HTTP {response.status_code}")
        answer = _json_object(response)
        if not 200 <= response.status_code < 300:
            error = str(answer.get("error", ""))
            description = str(answer.get("error_description", ""))[:DESCRIPTION_CHARS]
            detail = ": ".join(part for part in (error, description) if part)
            raise PermanentError(
                f"{where} refused client {self._spec.client_id}: HTTP {response.status_code}"
                + (f" {detail}" if detail else "")
            )
        token, kind = answer.get("access_token"), str(answer.get("token_type", "Bearer"))
        if not isinstance(token, str) or not token:
            raise PermanentError(f"{where} answered HTTP {response.status_code} without an access_token")
        if kind.lower() != "bearer":
            raise PermanentError(f"{where} issued a {kind!r} token; only Bearer tokens are supported")
        lifetime = _lifetime(answer.get("expires_in"))
        refresh_at = sent_at + lifetime - min(EXPIRY_MARGIN_S, lifetime / 2)
        log.info("fetched an OAuth2 token from %s (expires in %s s)", self._spec.token_url, lifetime)
        return _Token(f"Bearer {token}", refresh_at)


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _lifetime(expires_in: Any) -> float:
    """Seconds a token lasts; without expires_in (RFC 6749 5.1: RECOMMENDED), until a 401 says."""
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError):
        return math.inf
    return seconds if seconds > 0 else math.inf
