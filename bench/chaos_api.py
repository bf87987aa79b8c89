"""A chaos API policy: deterministic per row and attempt, so every run misbehaves the same way.

Rows are picked by their "id" column. The first attempts of some rows fail in every way an API
can fail; rows whose id is 5 modulo 50 are refused with 400 until the API is "fixed".
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.demo.api import Call, Reply

REFUSED_MODULUS, REFUSED_REMAINDER = 50, 5


def refused(row_id: int) -> bool:
    return row_id % REFUSED_MODULUS == REFUSED_REMAINDER


@dataclass
class ChaosPolicy:
    stall_s: float = 1.5  # longer than the RequestTimeoutSeconds the tests set (1)
    fixed: bool = False

    @staticmethod
    def stalls(row_id: int) -> bool:
        """The first attempt of these rows answers only after the client's timeout."""
        return row_id % 100 == 3

    def __call__(self, call: Call) -> Reply:
        row_id = int(call.payload["id"])
        if refused(row_id) and not self.fixed:
            return Reply(400, body=b'{"error":"field text is invalid"}')
        if call.attempt == 1:
            if row_id % 10 == 1:
                return Reply(500, body=b'{"error":"internal"}')
            if row_id % 100 == 2:
                return Reply(429, headers={"Retry-After": "1"}, body=b'{"error":"slow down"}')
            if self.stalls(row_id):
                return Reply(delay_s=self.stall_s)
            if row_id % 100 == 4:
                return Reply(reset=True)
        if row_id % 10 == 6 and call.attempt <= 2:
            return Reply(503, body=b'{"error":"unavailable"}')
        return Reply()


@dataclass
class TransientFaults:
    """The issue's chaos run: 10% of rows fail their first call in a passing way (500, 503, 429
    with Retry-After, a reset, a stall past the client's call timeout) and 1% are refused (400).
    Rows by their "id" column, so every run misbehaves the same way."""

    stall_s: float

    @staticmethod
    def refused(row_id: int) -> bool:
        return row_id % 100 == 0

    def __call__(self, call: Call) -> Reply:
        kind = int(call.payload["id"]) % 100
        if kind == 0:
            return Reply(400, body=b'{"error":"refused"}')
        if call.attempt > 1 or kind > 10:
            return Reply()
        if kind <= 3:
            return Reply(500, body=b'{"error":"internal"}')
        if kind <= 5:
            return Reply(503, body=b'{"error":"unavailable"}')
        if kind == 6:
            return Reply(429, headers={"Retry-After": "1"}, body=b'{"error":"slow down"}')
        if kind <= 8:
            return Reply(reset=True)
        return Reply(delay_s=self.stall_s)
