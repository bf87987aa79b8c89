"""Time and cost of one job on AWS, from the per-row CPU measured here and the documented scaling.

A model, not a measurement: see bench/README.md for its assumptions and their sources.
"""

from __future__ import annotations

from dataclasses import dataclass

# Lambda Developer Guide, "Configuring scaling behavior for SQS event source mappings": five
# concurrent batches at first, then up to 300 more instances a minute.
ESM_START_CONCURRENCY = 5
ESM_SCALE_UP_PER_MIN = 300
# Lambda: a function with 1,769 MB of memory has the equivalent of one vCPU.
MB_PER_VCPU = 1769
# Lambda price, arm64, US East (N. Virginia), first tier; and per request.
PRICE_PER_GB_S_ARM = 0.0000133334
PRICE_PER_GB_S_X86 = 0.0000166667
PRICE_PER_MILLION_REQUESTS = 0.20
STEP_S = 0.1


@dataclass(frozen=True)
class Estimate:
    seconds: float
    rows_per_s_per_environment: float
    cpu_share_used: float  # of the environment's vCPU share, while posting
    invocations: int
    gb_seconds: float
    cost_usd: float


def estimate(
    rows: int,
    latency_s: float,
    cpu_s_per_row: float,
    reserved_concurrency: int = 300,
    threads: int = 8,
    memory_mb: int = 1024,
    rows_per_invocation: int = 1000,
    api_max_in_flight: int | None = None,
) -> Estimate:
    """Rows posted as concurrency ramps up as SQS scales the mapping, capped by CPU per environment.

    `api_max_in_flight`: an API that gets no faster past this many calls at once (the story's
    did not past about 300) caps the total rate at that over the latency.
    """
    vcpu = memory_mb / MB_PER_VCPU
    per_env = min(threads / latency_s, vcpu / cpu_s_per_row)
    api_cap = api_max_in_flight / latency_s if api_max_in_flight else float("inf")
    done, t, busy_s = 0.0, 0.0, 0.0
    while done < rows:
        concurrency = min(reserved_concurrency, ESM_START_CONCURRENCY + ESM_SCALE_UP_PER_MIN * t / 60)
        rate = min(concurrency * per_env, api_cap)
        done += rate * STEP_S
        busy_s += concurrency * STEP_S  # environments wait out a slow API too, and are billed
        t += STEP_S
    gb_s = busy_s * memory_mb / 1024
    invocations = -(-rows // rows_per_invocation)
    cost = gb_s * PRICE_PER_GB_S_ARM + invocations * PRICE_PER_MILLION_REQUESTS / 1e6
    return Estimate(t, per_env, per_env * cpu_s_per_row / vcpu, invocations, gb_s, cost)
