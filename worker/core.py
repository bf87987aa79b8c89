"""One worker invocation: post every open row of the batch, settle the messages, report the rest.

All rows of all messages go to one thread pool at once, so the pool stays full across message
boundaries. The batch is then settled together (failed rows to the DLQ, one ledger transaction),
and Powertools' partial batch response names the messages that still have open rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from fanout import metrics
from fanout.aws_clients import WORKER_CLIENTS
from fanout.contract import Row, RowFailure, WorkMessage
from fanout.errors import PermanentError, RetryableError
from fanout.failures import FailedMessages
from fanout.jobs import JobStore, now_iso
from fanout.lambda_time import time_left
from fanout.limits import LAMBDA_MAX_TIMEOUT_S, SQS_SEND_BATCH_MAX_ENTRIES
from fanout.metrics import MetricSet, MetricsTarget
from fanout.queues import dead_letter_unreadable, send_message_batch
from fanout.redelivery import Redelivery
from fanout.reports import JobReporter
from fanout.results import RowRecord
from worker.calls import add_calls
from worker.delivery import Delivery, Settlement, Timer
from worker.fleet import FleetWatch
from worker.flusher import LedgerFlusher
from worker.job_watch import JobWatch
from worker.ledger import Change, JobNotStopped, Ledger, Outcome
from worker.poster import RowPoster, RowResult, RowTries
from worker.posting_threads import PostingThreads
from worker.renderers import Renderers, Sending

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger("fanout.worker")

# Time kept back at the end of an invocation to settle messages after the last row: one AWS call
# that hangs until its client gives up (every attempt timed out), and a second for the rest.
SETTLE_RESERVE_S = WORKER_CLIENTS.worst_call_s + 1.0


@dataclass
class _Message:
    record: dict[str, Any]
    message: WorkMessage
    open_rows: set[int]  # rows this delivery is to settle
    settlements: list[Settlement]
    final: bool = False  # the last delivery the redrive policy allows
    posted: set[int] = field(default_factory=set)
    failures: dict[int, RowFailure] = field(default_factory=dict)
    records: dict[int, RowRecord] = field(default_factory=dict)
    cancelled: set[int] = field(default_factory=set)
    still_open: int = 0
    throttled: int = 0

    def outcome(self, failing: int) -> Outcome:
        return Outcome(
            self.message.key,
            self.message.job_id,
            frozenset(self.posted),
            frozenset(self.failures),
            self.throttled,
            frozenset(self.cancelled),
            failing,
            self.records,
        )


@dataclass
class _Invocation:
    flusher: LedgerFlusher
    watch: JobWatch
    delivery: Delivery
    settled: list[Change] = field(default_factory=list)


class Worker:
    def __init__(
        self,
        poster: RowPoster,
        ledger: Ledger,
        sqs: SQSClient,
        dlq_url: str,
        threads: int,
        max_receive_count: int,
        metrics_target: MetricsTarget,
        reporter: JobReporter,
        failures: FailedMessages,
        renderers: Renderers,
        jobs: JobStore,
        held_url: str,
        concurrency: int,
        fleet: FleetWatch | None = None,
    ) -> None:
        """`held_url`: where a stopped job's rows wait for a resume; `concurrency`: the mapping's
        maximum, how many invocations may post for one job at once; `fleet`: keeps this environment
        counted among those sharing the API's budget while it posts (None: no budget)."""
        self._fleet = fleet
        self._poster = poster
        self._renderers = renderers
        self._ledger = ledger
        self._sqs = sqs
        self._dlq_url = dlq_url
        self._jobs = jobs
        self._held_url = held_url
        self._concurrency = concurrency
        self._pool = PostingThreads(threads, "post")
        self._recorder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flush")
        self._timer = Timer()  # rows waiting for their next try, off the posting threads
        self._max_receive_count = max_receive_count
        self._redelivery = Redelivery(sqs)
        self._metrics_target = metrics_target
        self._reporter = reporter
        self._failures = failures

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        watch = JobWatch(self._jobs, self._reporter, self._concurrency)
        flusher = LedgerFlusher(self._ledger, recorder=self._recorder, watch=watch)
        run = _Invocation(flusher, watch, Delivery(self._pool, self._poster, self._timer))
        records = event.get("Records", [])
        try:
            readable, unreadable = _parse_all(records)
            # Its share of the API's budget follows the rows it has to post (worker/fleet.py).
            rows = sum(len(message.rows) for _, message in readable.values())
            with self._fleet.posting(rows) if self._fleet else nullcontext():
                return self._handle(readable, unreadable, context, run, event)
        except Exception as exc:
            self._failures.retry_soon([SQSRecord(r) for r in records], exc, _job_ids(records))
            raise
        finally:
            run.flusher.join()
            tally = MetricSet()
            _count_rows(tally, [*run.flusher.recorded, *run.settled])
            tally.count(metrics.JOBS_HALTED, watch.halted)
            add_calls(tally, self._poster.calls.drain())
            tally.sample(metrics.BATCH_DURATION, [(time.perf_counter() - started) * 1000.0])
            self._metrics_target.publish(tally)

    def _handle(
        self,
        readable: dict[str, tuple[dict[str, Any], WorkMessage]],
        unreadable: list[tuple[dict[str, Any], str]],
        context: Any,
        run: _Invocation,
        event: dict[str, Any],
    ) -> dict[str, Any]:
        self._dead_letter_unreadable(unreadable)
        post_by = lambda_deadline(time_left(context, LAMBDA_MAX_TIMEOUT_S))
        messages = self._start(readable, post_by, run)
        try:
            run.settled.extend(self._settle(list(messages.values()), run))
            # Whoever settles a job's last row reports it (the job record's flag picks one); the
            # same read judges the job's failure threshold once more.
            for job_id, job in run.watch.refresh(everyone=True).items():
                self._reporter.report_if_finished(job_id, job)
        except (RetryableError, ClientError, BotoCoreError) as exc:
            # Worth trying again soon: reported message by message below, with a short backoff,
            # rather than failing the invocation and leaving the whole batch hidden for the
            # visibility timeout. A PermanentError here fails the invocation (FailedMessages
            # still backs it off; the redrive policy bounds the retries).
            self._failures.note(exc, len(messages), {e.message.job_id for e in messages.values()})
            for entry in messages.values():
                entry.still_open = max(1, len(entry.settlements))

        def report(record: SQSRecord) -> None:
            entry = messages.get(record.message_id)
            if entry is not None and entry.still_open:
                self._redelivery.back_off(record)
                raise RetryableError(f"{entry.still_open} rows of message {entry.message.key} are still open")

        processor = BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False)
        return dict(process_partial_response(event, report, processor, context))

    def _start(
        self,
        parsed: dict[str, tuple[dict[str, Any], WorkMessage]],
        post_by: Callable[[], float],
        run: _Invocation,
    ) -> dict[str, _Message]:
        settled = self._ledger.settled_many(m.key for _, m in parsed.values())
        run.flusher.known.update(settled)
        run.watch.load(m.job_id for _, m in parsed.values())

        started = {}
        for message_id, (record, message) in parsed.items():
            done = settled[message.key]
            # A redriven message (it carries its failures) tries its failed rows again.
            skip = done.posted if message.failures else done.posted | done.failed
            rows = [row for row in message.rows if row.number not in skip]
            receives = int(record["attributes"].get("ApproximateReceiveCount", "1"))
            entry = _Message(
                record, message, {r.number for r in rows}, [], final=receives >= self._max_receive_count
            )
            started[message_id] = entry
            if run.watch.stopped(message.job_id):
                continue
            try:
                sending = self._renderers.for_message(message)
            except (PermanentError, RetryableError) as exc:
                entry.settlements = _unsent(rows, exc)
                continue
            until = _unless_stopped(run.watch, message.job_id, post_by)
            entry.settlements = [self._begin(entry, sending, row, until, run) for row in rows]
        return started

    def _begin(
        self, entry: _Message, sending: Sending, row: Row, until: Callable[[], float], run: _Invocation
    ) -> Settlement:
        """Posts the row (worker/delivery.py); each row's result goes to the ledger's next flush."""

        def settled(result: RowResult) -> None:
            failing = result.failure is not None and result.failure.get("attempts", 0) > 0
            run.flusher.add(entry.message, result, failing and (result.permanent or entry.final))

        tries = self._poster.begin(sending.renderer, sending.auth, entry.message.job_id, row)
        if isinstance(tries, RowTries):
            return run.delivery.add(tries, until, settled, entry.final)
        settled(tries)
        return Settlement(tries)

    def _settle(self, messages: list[_Message], run: _Invocation) -> list[Change]:
        """Records the batch; what the ledger newly counted."""
        run.delivery.wait()
        if run.delivery.handed_back:
            log.info(
                "handed back %d rows whose calls stalled or whose next try is far off",
                run.delivery.handed_back,
            )
        for entry in messages:
            results = [settlement.result() for settlement in entry.settlements]
            entry.posted = {r.number for r in results if r.posted}
            entry.failures = {
                r.number: r.failure for r in results if r.failure is not None and (r.permanent or entry.final)
            }
            entry.records = {r.number: r.record() for r in results if r.posted or r.number in entry.failures}
            left = entry.open_rows - entry.posted - set(entry.failures)
            if run.watch.stopped(entry.message.job_id):
                entry.cancelled = left  # held for a resume, not tried again
            else:
                entry.still_open = len(left)
            entry.throttled = sum(r.throttled for r in results)
        run.flusher.wait()
        failing = run.flusher.take_failing()
        self._dead_letter([e for e in messages if e.failures])
        self._hold(messages, run.flusher)
        outcomes = [e.outcome(failing.get(e.message.key, 0)) for e in messages]
        try:
            changes = self._ledger.record(outcomes, run.flusher.known)
        except JobNotStopped as exc:
            # Resumed since we read it stopped: its rows are open again and come back to be posted
            # (what we held for it is then a stale copy, whose rows the ledger will skip).
            run.watch.mark_running(exc.job_ids)
            for entry in messages:
                if entry.message.job_id in exc.job_ids:
                    entry.still_open, entry.cancelled = len(entry.cancelled), set()
            outcomes = [e.outcome(failing.get(e.message.key, 0)) for e in messages]
            changes = self._ledger.record(outcomes, run.flusher.known)
        for entry in messages:
            change = changes.get(entry.message.key)
            log.info(
                "settled message: %d posted, %d failed, %d open",
                len(change.posted) if change else 0,
                len(change.failed) if change else 0,
                entry.still_open,
                extra={"job_id": entry.message.job_id, "message_id": entry.record["messageId"]},
            )
        return list(changes.values())

    def _dead_letter(self, messages: list[_Message]) -> None:
        """Failed rows go to the DLQ with their reasons before the ledger counts them as failed."""
        self._send(self._dlq_url, [e.message.with_rows(set(e.failures), e.failures) for e in messages])

    def _hold(self, messages: list[_Message], flusher: LedgerFlusher) -> None:
        """A stopped job's rows wait in the held queue for `fanout resume` before the ledger counts
        them as cancelled; rows an earlier delivery held already are not held twice."""
        held = []
        for entry in messages:
            rows = entry.cancelled - flusher.known[entry.message.key].cancelled
            if rows:
                held.append(entry.message.with_rows(rows, {}))
        self._send(self._held_url, held)

    def _send(self, url: str, messages: list[WorkMessage]) -> None:
        bodies = [(str(i), m.to_body()) for i, m in enumerate(messages)]
        for start in range(0, len(bodies), SQS_SEND_BATCH_MAX_ENTRIES):
            send_message_batch(self._sqs, url, bodies[start : start + SQS_SEND_BATCH_MAX_ENTRIES])

    def _dead_letter_unreadable(self, unreadable: list[tuple[dict[str, Any], str]]) -> None:
        """Its record then succeeds, so the mapping deletes it from the work queue."""
        for record, reason in unreadable:
            extra = {"message_id": record["messageId"]}
            log.error("unreadable work message: sent to the DLQ (%s)", reason, extra=extra)
            dead_letter_unreadable(self._sqs, self._dlq_url, record["body"], reason)


def _count_rows(tally: MetricSet, changes: list[Change]) -> None:
    """Rows the ledger counted, as the job's counters moved (failed rows now posted count back)."""
    tally.count(metrics.ROWS_POSTED, sum(len(c.posted) for c in changes))
    tally.count(metrics.ROWS_FAILED, sum(len(c.failed) - len(c.recovered) for c in changes))
    tally.count(metrics.ROWS_CANCELLED, sum(len(c.cancelled) - len(c.uncancelled) for c in changes))


def _unless_stopped(watch: JobWatch, job_id: str, time_left: Callable[[], float]) -> Callable[[], float]:
    """The time left to post a job's rows: none once the job is seen stopped, so no row starts."""
    return lambda: float("-inf") if watch.stopped(job_id) else time_left()


def _job_ids(records: list[dict[str, Any]]) -> set[str]:
    """The jobs of the records that parse (a failure's cause may be a record that does not)."""
    return {message.job_id for _, message in _parse_all(records)[0].values()}


def _parse_all(
    records: list[dict[str, Any]],
) -> tuple[dict[str, tuple[dict[str, Any], WorkMessage]], list[tuple[dict[str, Any], str]]]:
    """The batch's work messages by message id, and the records that are none, with why."""
    readable, unreadable = {}, []
    for record in records:
        try:
            readable[record["messageId"]] = (record, WorkMessage.from_body(record["body"]))
        except PermanentError as exc:
            unreadable.append((record, str(exc)))
    return readable, unreadable


def _unsent(rows: list[Row], exc: PermanentError | RetryableError) -> list[Settlement]:
    """The rows of a message whose request spec cannot be had: failed now if it is gone or invalid,
    otherwise open until a later delivery reads it (the last one sends them to the DLQ with why)."""
    log.warning("request spec unavailable: %s", exc)
    permanent = isinstance(exc, PermanentError)
    unsent = []
    for row in rows:
        failure = RowFailure(status=None, error=str(exc), attempts=0, at=now_iso())
        unsent.append(Settlement(RowResult(row.number, posted=False, permanent=permanent, failure=failure)))
    return unsent


def lambda_deadline(time_left: Callable[[], float]) -> Callable[[], float]:
    """Time left for posting: the invocation's, less what settling the messages needs."""
    return lambda: time_left() - SETTLE_RESERVE_S
