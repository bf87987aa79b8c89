"""The functions' boto3 clients: timeouts and retries that fit the time each function keeps back.

botocore's defaults (60 s to connect, 60 s to read, legacy retries) let one hung AWS call outlast
the time a function keeps back at the end of an invocation to finish cleanly, and the Lambda
timeout then ends it with its work unreported. AWS endpoints in the function's region answer in
milliseconds, so a call that takes seconds is stuck: it is better cut off and tried again.
"""

from __future__ import annotations

from dataclasses import dataclass

import boto3
import botocore.session
from botocore.config import Config

# botocore's standard retry mode waits up to min(2 ** retry, 20) s before a retry (throttling
# base scale 1; botocore/retries/standard.py, ExponentialBackoff).
STANDARD_MODE_MAX_BACKOFF_S = 20.0


@dataclass(frozen=True)
class ClientLimits:
    connect_timeout_s: float
    read_timeout_s: float
    # Every attempt of a call, the first included (botocore's total_max_attempts).
    attempts: int

    @property
    def worst_call_s(self) -> float:
        """The longest one call can take: every attempt timing out, with the longest backoffs."""
        per_attempt = self.connect_timeout_s + self.read_timeout_s
        backoffs = sum(min(2.0**retry, STANDARD_MODE_MAX_BACKOFF_S) for retry in range(1, self.attempts))
        return self.attempts * per_attempt + backoffs

    def config(self) -> Config:
        return Config(
            connect_timeout=self.connect_timeout_s,
            read_timeout=self.read_timeout_s,
            # Standard mode: retries throttling and transient errors, with jittered backoff and
            # a client-side retry quota (botocore, "Retries").
            retries={"mode": "standard", "total_max_attempts": self.attempts},
        )


# The worker keeps SETTLE_RESERVE_S (worker/core.py, derived from these) back to settle its
# batch, so a call that hangs gives up within it. One retry redials a dropped connection; 8 s to
# read is long for a DynamoDB or SQS answer, even from the emulator sharing two cores with
# hundreds of posting threads (infra/local/endpoint.py allows it 20 s for its own calls).
WORKER_CLIENTS = ClientLimits(connect_timeout_s=2.0, read_timeout_s=8.0, attempts=2)
# The splitter keeps HANDOFF_RESERVE_S (60 s, splitter/core.py) back to send, checkpoint and
# hand over; S3 GET streams read from a socket that may wait while the work queue is full.
SPLITTER_CLIENTS = ClientLimits(connect_timeout_s=2.0, read_timeout_s=10.0, attempts=3)


def bounded_session(limits: ClientLimits) -> boto3.Session:
    """A session every client of which has `limits`: the function's own, and the ones botocore's
    credential providers make behind it (STS for an assume-role or web-identity profile, SSO),
    which would otherwise wait 60 s a read and retry in legacy mode. The instance and container
    metadata calls those providers make are bounded by botocore itself (1 s and one attempt;
    2 s and three attempts)."""
    core = botocore.session.Session()
    core.set_default_client_config(limits.config())
    return boto3.Session(botocore_session=core)
