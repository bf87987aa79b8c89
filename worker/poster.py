"""Sending one row's request to the API, with the retries one delivery allows.

The request (method, URL, headers, body, outcome rules, auth) is what the job's request spec
renders for the row (fanout/rendering.py; today's POST by default). The calls go over one
kept-alive connection per posting thread and origin (worker/api_connections.py, through
worker/http1.py: measured in bench/, http.client cost the worker about three times its CPU per
call at 256 threads a process, and the transports above http.client more). The contract is the
same as with `requests`: a timeout on every call, no redirects followed, no retries but ours.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from fanout.capture import Capture
from fanout.cells import CellError
from fanout.contract import Row, RowFailure
from fanout.errors import FanoutError, PermanentError
from fanout.jobs import now_iso
from fanout.outcomes import Verdict
from fanout.rendering import Endpoint, Request, RequestRenderer
from fanout.results import FAILED, POSTED, RowRecord
from worker.api_connections import USER_AGENT, ApiConnections, Response
from worker.auth import Authenticator, OutgoingCall, mask_credentials
from worker.calls import CallLog
from worker.latencies import Latencies
from worker.responses import Classified, RetryPolicy, classify_exception, classify_status
from worker.throttle import AdaptiveLimiter

EXCERPT_CHARS = 300
# Answers that mean the API did not accept the call's credential.
AUTH_REFUSED_STATUSES = frozenset({401, 403})


@dataclass(frozen=True)
class RowResult:
    number: int
    posted: bool
    permanent: bool = False
    failure: RowFailure | None = None
    throttled: int = 0  # calls the API answered with 429 or 503
    # What the results file shows: the last call's status (None: no answer) and time, and calls made.
    status: int | None = None
    attempts: int = 0
    latency_ms: float | None = None
    captured: Mapping[str, str] = field(default_factory=dict)  # the spec's capture of the answer

    def record(self) -> RowRecord:
        """The row as the results file shows it, once settled."""
        if self.posted:
            return RowRecord(
                self.number, POSTED, self.status, self.attempts, self.latency_ms, "", self.captured
            )
        reason = self.failure.get("error", "") if self.failure else ""
        return RowRecord(
            self.number, FAILED, self.status, self.attempts, self.latency_ms, reason, self.captured
        )


@dataclass
class RowTries:
    """One row's attempts within one delivery of its message."""

    number: int
    request: Request
    renderer: RequestRenderer
    auth: Authenticator | None
    attempt: int = 0  # attempts counted against the limit (throttled calls are not)
    tries: int = 0  # calls made
    throttled: int = 0
    failure: RowFailure | None = None
    status: int | None = None
    latency_ms: float = 0.0

    def given_up(self) -> RowResult:
        """Not posted in this delivery: out of attempts or of time."""
        failure = self.failure or RowFailure(
            status=None,
            error="not attempted: the invocation ran out of time",
            attempts=0,
            at=now_iso(),
        )
        return RowResult(
            self.number,
            posted=False,
            failure=failure,
            throttled=self.throttled,
            status=failure.get("status"),
            attempts=self.tries,
            latency_ms=self.latency_ms if self.tries else None,
        )

    def handed_back(self) -> RowResult:
        """Left open for the message's next delivery: its call stalled, or its next try is far off."""
        return RowResult(self.number, posted=False, throttled=self.throttled, attempts=self.tries)


class RowPoster:
    def __init__(
        self,
        connections: ApiConnections,
        policy: RetryPolicy,
        limiter: AdaptiveLimiter,
        sleep: Callable[[float], None] = time.sleep,
        calls: CallLog | None = None,
        auth: Authenticator | None = None,
    ) -> None:
        self._connections = connections
        self._policy = policy
        self._limiter = limiter
        self._sleep = sleep
        self.calls = calls or CallLog()
        self._auth = auth  # what authenticates each call, if the API wants that
        self._latencies = Latencies()

    @property
    def endpoint(self) -> Endpoint:
        return self._connections.endpoint

    @property
    def auth(self) -> Authenticator | None:
        """The stack's own credential (ApiAuthSecretArn), for calls to the API URL's origin."""
        return self._auth

    @property
    def timeout_s(self) -> float:
        """The call timeout now: adapted to the latencies seen, within the template's."""
        return self._latencies.call_timeout(self._connections.timeout_s)

    @property
    def straggler_s(self) -> float:
        """A call in flight this long is far slower than the others (worker/delivery.py)."""
        return self._latencies.straggler_s(self._connections.timeout_s)

    def abort(self, thread: int) -> None:
        """Ends the call the thread has in flight (a straggler handed back)."""
        self._connections.abort(thread)

    def post(
        self,
        renderer: RequestRenderer,
        auth: Authenticator | None,
        job_id: str,
        row: Row,
        time_left: Callable[[], float],
    ) -> RowResult:
        """Sends until success, a permanent refusal, the attempt limit, or too little time is left,
        waiting between attempts in this thread (one row; the worker's invocations use `begin`
        and `attempt` instead, so a row waiting for its next try holds no thread)."""
        tried = self.begin(renderer, auth, job_id, row)
        while not isinstance(tried, RowResult):
            outcome = self.attempt(tried, time_left)
            if isinstance(outcome, RowResult):
                return outcome
            self._sleep(outcome)
        return tried

    def begin(
        self, renderer: RequestRenderer, auth: Authenticator | None, job_id: str, row: Row
    ) -> RowTries | RowResult:
        """The row's request, ready for its attempts (`auth` authenticates them: worker/renderers.py
        picks it for the job's spec); its result already if it cannot be rendered."""
        try:
            request = renderer.render(job_id, row)
        except CellError as exc:
            # The splitter rejects such rows before they are sent; this is a message edited since.
            unsent = RowFailure(status=None, error=f"not sent: {exc}", attempts=0, at=now_iso())
            return RowResult(row.number, posted=False, permanent=True, failure=unsent)
        return RowTries(row.number, request, renderer, auth)

    def attempt(
        self, row: RowTries, time_left: Callable[[], float], calling: Callable[[], None] = lambda: None
    ) -> RowResult | float:
        """One call (`calling` is told when it starts, after the limiter's permit): the row's result
        once settled, otherwise the seconds to wait before its next attempt."""
        if time_left() < self.timeout_s:
            return row.given_up()
        row.tries += 1
        with self._limiter.permit() as permit:
            calling()
            started = time.perf_counter()
            classified, last, response = self._attempt(row.request, row.auth, row.tries)
            row.latency_ms = (time.perf_counter() - started) * 1000.0
            permit.throttled = classified.throttle
        row.throttled += classified.throttle
        row.status = response.status if response is not None else None
        if last is None:
            captured = _capture(row.renderer.spec.capture, response)
            return RowResult(
                row.number, True, False, None, row.throttled, row.status, row.tries, row.latency_ms, captured
            )
        row.failure = last
        if classified.verdict is Verdict.PERMANENT:
            return RowResult(
                row.number, False, True, last, row.throttled, row.status, row.tries, row.latency_ms
            )
        # Throttled calls (429, 503) are retried within the time left rather than counted against
        # the attempt limit: the API asked for patience, it did not refuse the row.
        row.attempt += 0 if classified.throttle else 1
        if row.attempt == self._policy.attempt_limit:
            return row.given_up()
        delay = self._policy.delay(max(row.attempt, 1), classified)
        if time_left() < delay + self.timeout_s:
            return row.given_up()
        return delay

    def _attempt(
        self, request: Request, auth: Authenticator | None, attempt: int
    ) -> tuple[Classified, RowFailure | None, Response | None]:
        """What the call's answer means, why it failed if it did, and the answer if there was one."""
        started = time.perf_counter()
        try:
            response, credentials, renewed = self._send(request, auth, started, attempt)
        except (OSError, http.client.HTTPException) as exc:
            self.calls.record(None, started, attempt)
            classified = classify_exception(exc)
            failure = RowFailure(
                status=None, error=classified.reason, excerpt="", attempts=attempt, at=now_iso()
            )
            return classified, failure, None
        except FanoutError as exc:
            # No credential to send (a token endpoint down or refusing): no call was made.
            verdict = Verdict.PERMANENT if isinstance(exc, PermanentError) else Verdict.RETRY
            classified = Classified(verdict, f"auth: {exc}")
            failure = RowFailure(status=None, error=classified.reason, attempts=attempt, at=now_iso())
            return classified, failure, None
        self.calls.record(response.status, started, attempt)
        self._latencies.add(time.perf_counter() - started)
        classified = classify_status(response.status, response.headers, request.outcomes)
        if classified.verdict is Verdict.SUCCESS:
            return classified, None, response
        if auth is not None and response.status in AUTH_REFUSED_STATUSES:
            reason = f"{classified.reason}: {auth.refusal(response.status, renewed)}"
            classified = replace(classified, reason=reason)
        excerpt = response.body.decode("utf-8", errors="replace")[:EXCERPT_CHARS]
        failure = RowFailure(
            status=response.status,
            error=classified.reason,
            # An API may echo what it refused: a credential never reaches the dead-letter queue.
            excerpt=mask_credentials(excerpt, credentials),
            attempts=attempt,
            at=now_iso(),
        )
        return classified, failure, response

    def _send(
        self, request: Request, auth: Authenticator | None, started: float, attempt: int
    ) -> tuple[Response, Mapping[str, str], bool]:
        """The call, authenticated; after a 401, once more with renewed credentials where there are
        any (an expired or revoked token). Returns the answer, the credentials sent, and whether
        they were renewed."""
        if auth is None:
            return self._call(request, request.headers), {}, False
        credentials = auth.headers_for(_outgoing(request))
        response = self._call(request, {**request.headers, **credentials})
        if response.status != 401 or not auth.renew(credentials):
            return response, credentials, False
        self.calls.record(response.status, started, attempt)
        credentials = auth.headers_for(_outgoing(request))
        return self._call(request, {**request.headers, **credentials}), credentials, True

    def _call(self, request: Request, headers: Mapping[str, str]) -> Response:
        return self._connections.send(
            request.origin, request.method, request.target, request.body, headers, self.timeout_s
        )


def _outgoing(request: Request) -> OutgoingCall:
    headers = {"User-Agent": USER_AGENT, **request.headers}
    return OutgoingCall(request.method, request.url, headers, request.body or b"")


def _capture(capture: Capture, response: Response | None) -> dict[str, str]:
    """The spec's capture of a successful answer (nothing to do for most specs)."""
    if not capture or response is None:
        return {}
    return capture.extract(response.body, response.headers)
