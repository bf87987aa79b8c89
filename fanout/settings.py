"""Each function's settings, read from the environment that template.yaml declares.

Each template parameter reaches the functions under one environment name, and each bound here
is the parameter's MinValue/MaxValue (tests/unit/test_settings_agree.py holds them together).

The names here are the keys of the functions' `Environment.Variables` in template.yaml; the
local stack builds the same environment from the template, so there is no second copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fanout.errors import ConfigError, InputError
from fanout.formats import CsvFormat
from fanout.results import check_mode
from fanout.thresholds import MAX_MIN_ROWS, FailureThreshold


def _text(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"setting {name} is missing")
    return value


def _optional_text(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _int(env: Mapping[str, str], name: str, low: int, high: int) -> int:
    raw = _text(env, name)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"setting {name}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"setting {name}={value} is outside {low}..{high}")
    return value


def _float(env: Mapping[str, str], name: str, low: float, high: float) -> float:
    raw = _text(env, name)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"setting {name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise ConfigError(f"setting {name}={value} is outside {low}..{high}")
    return value


def _results_mode(env: Mapping[str, str]) -> str:
    return check_mode(_text(env, "RESULTS_MODE"))


@dataclass(frozen=True)
class SplitterSettings:
    jobs_table: str
    work_queue_url: str
    intake_dlq_url: str
    intake_queue_url: str  # its own queue: where a job it reports has its results combined
    rows_per_message: int
    csv_format: CsvFormat
    # The worker's reserved concurrency and its mapping's batch size: one round of invocations
    # takes their product in messages (splitter/rounds.py).
    worker_concurrency: int
    worker_batch_size: int
    # The job's results are combined by whoever reports it, the splitter too (fanout/reports.py).
    ledger_table: str
    results_mode: str
    # The failure threshold each job gets unless its file's metadata says otherwise.
    failure_threshold: FailureThreshold
    default_request: str = ""  # the spec under requests/ for files that name none; empty: the default

    @property
    def round_messages(self) -> int:
        return self.worker_concurrency * self.worker_batch_size

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SplitterSettings:
        try:
            csv_format = CsvFormat(
                delimiter=_text(env, "CSV_DELIMITER"),
                quote=_text(env, "CSV_QUOTE"),
                encoding=_text(env, "CSV_ENCODING"),
                header=_text(env, "CSV_HEADER"),
            )
        except InputError as exc:
            raise ConfigError(str(exc)) from None
        return cls(
            jobs_table=_text(env, "JOBS_TABLE"),
            work_queue_url=_text(env, "WORK_QUEUE_URL"),
            intake_dlq_url=_text(env, "INTAKE_DLQ_URL"),
            intake_queue_url=_text(env, "INTAKE_QUEUE_URL"),
            rows_per_message=_int(env, "ROWS_PER_MESSAGE", 1, 10_000),
            csv_format=csv_format,
            # The template's minimum is 2 (a mapping's MaximumConcurrency); 1 lets a test ask for
            # rounds of one message, in which every message is full (splitter/rounds.py).
            worker_concurrency=_int(env, "WORKER_CONCURRENCY", 1, 1_000),
            worker_batch_size=_int(env, "WORKER_BATCH_SIZE", 1, 10_000),
            ledger_table=_text(env, "LEDGER_TABLE"),
            results_mode=_results_mode(env),
            default_request=_optional_text(env, "DEFAULT_REQUEST"),
            failure_threshold=FailureThreshold(
                _float(env, "TOLERATED_FAILURE_PERCENT", 0, 100),
                _int(env, "TOLERATED_FAILURE_MIN_ROWS", 1, MAX_MIN_ROWS),
            ),
        )


@dataclass(frozen=True)
class WorkerSettings:
    api_url: str
    api_auth_secret_arn: str  # empty: the API gets no Authorization header
    # The request spec's secrets are `<secrets_prefix>NAME` (the stack's name and a slash).
    secrets_prefix: str
    threads: int
    request_timeout_s: float
    attempt_limit: int
    max_receive_count: int
    jobs_table: str
    ledger_table: str
    dlq_url: str
    held_queue_url: str  # a cancelled or halted job's rows, until `fanout resume`
    intake_queue_url: str  # the splitter's: where a job it reports has its results combined
    max_in_flight: int
    max_calls_per_second: float
    worker_concurrency: int  # the budget is shared over this many invocations (worker/throttle.py)
    data_bucket: str  # where result parts are written (results/<job>/parts/)
    results_mode: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorkerSettings:
        return cls(
            api_url=_text(env, "API_URL"),
            api_auth_secret_arn=_optional_text(env, "API_AUTH_SECRET_ARN"),
            secrets_prefix=_text(env, "SECRETS_PREFIX"),
            threads=_int(env, "THREADS", 1, 256),
            request_timeout_s=_float(env, "REQUEST_TIMEOUT_S", 1, 60),
            attempt_limit=_int(env, "ATTEMPT_LIMIT", 1, 20),
            max_receive_count=_int(env, "MAX_RECEIVE_COUNT", 1, 100),
            jobs_table=_text(env, "JOBS_TABLE"),
            ledger_table=_text(env, "LEDGER_TABLE"),
            dlq_url=_text(env, "DLQ_URL"),
            held_queue_url=_text(env, "HELD_QUEUE_URL"),
            intake_queue_url=_text(env, "INTAKE_QUEUE_URL"),
            max_in_flight=_int(env, "MAX_IN_FLIGHT", 0, 1_000_000),
            max_calls_per_second=_float(env, "MAX_CALLS_PER_SECOND", 0, 1_000_000),
            worker_concurrency=_int(env, "WORKER_CONCURRENCY", 2, 1_000),
            data_bucket=_text(env, "DATA_BUCKET"),
            results_mode=_results_mode(env),
        )


@dataclass(frozen=True)
class MetricsSettings:
    """Both functions' metrics namespace and service dimension (template.yaml Globals)."""

    namespace: str
    service: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MetricsSettings:
        return cls(
            namespace=_text(env, "POWERTOOLS_METRICS_NAMESPACE"),
            service=_text(env, "POWERTOOLS_SERVICE_NAME"),
        )
