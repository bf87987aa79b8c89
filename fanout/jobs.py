"""The job record: one per object version, read by `fanout status` and the report."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fanout.contract import RequestRef
from fanout.thresholds import FailureThreshold

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SPLITTING = "splitting"
SPLIT = "split"
SPLIT_FAILED = "failed"
# The splitter saw the job stopped: it sent nothing past its checkpoint and counted the rest
# of the file as cancelled (rows_unsplit), so the counts add up; resume splits on from there.
SPLIT_STOPPED = "stopped"

# result_parts: the job's result parts the ledger has committed (fanout/results.py); one more
# after the job was reported means its results changed (a redrive), and it is reported again.
# rows_failing: rows the workers saw end failed, counted as they happen (the failure
# threshold's numerator); rows_failed moves only once they are in the dead-letter queue.
COUNTERS = (
    "rows_posted",
    "rows_failed",
    "rows_rejected",
    "rows_cancelled",
    "rows_failing",
    "calls_throttled",
    "result_parts",
)

# A job's control: set by `fanout cancel`, or by the failure threshold; cleared by resume.
CANCELLED = "cancelled"
HALTED = "halted"
STOPPED_STATES = (CANCELLED, HALTED)


# How long a report claim holds before anyone may take it again. Longer than a claimer needs
# between its claim and handing the combine over (a worker lives at most its 120 s timeout),
# shorter than the work queue's visibility timeout (720 s): the batch of a worker killed right
# after claiming comes back to a worker that finds the claim stale. Whoever then does the work
# (the splitter combining the results) holds it for as long as its own invocation may live.
REPORT_CLAIM_S = 300.0


@dataclass(frozen=True)
class ReportClaim:
    """The right to report a job: what it was claimed for, and the token that names the claimer."""

    job_id: str
    token: str
    finished: float  # when the claim was made: the job's end for its report's duration
    rows_posted: int
    result_parts: int


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class SplitCheckpoint:
    """Where the split stands: every record before `offset` is in a sent message or rejected."""

    offset: int
    next_row: int
    next_seq: int
    rows_rejected: int
    columns: tuple[str, ...]
    delimiter: str
    # Bytes of the stored object the split has read up to `offset`: `offset` itself, unless the
    # object is compressed (splitter/source.py); what the progress estimate compares with its size.
    source_offset: int


@dataclass(frozen=True)
class Job:
    job_id: str
    bucket: str
    key: str
    version: str
    split_state: str
    rows_total: int | None
    rows_posted: int
    rows_failed: int
    rows_rejected: int
    created_at: str
    updated_at: str
    started: float
    finished: float | None
    error: str
    checkpoint: SplitCheckpoint | None = None
    format: str = ""
    calls_throttled: int = 0  # API answers of 429/503: sustained throttling shows here
    result_parts: int = 0
    reported_at: str = ""
    results_key: str = ""  # the combined results file, once written
    # While a report is claimed and not yet written: until when the claim holds (epoch seconds).
    report_until: float | None = None
    results_at: str = ""
    # Invocations that failed on this job's messages (each retried after a short backoff),
    # and the last one's cause: a split or a batch that keeps failing shows here.
    invocation_failures: int = 0
    last_invocation_failure: str = ""
    source_bytes: int = 0  # the size of the object being split, once a checkpoint says
    request: RequestRef | None = None  # the request spec's pinned version; None: the default request
    # The splitter has chosen the job's request (`request`, or the default request where that is
    # None); until then `request` is None because nothing has been read yet.
    request_pinned: bool = False

    @property
    def rows_estimate(self) -> int | None:
        """While the split has no total yet: the rows it has read, scaled from the bytes read to
        the object's size (the header counts as a row's bytes: a little over, never under)."""
        checkpoint = self.checkpoint
        if self.rows_total is not None or checkpoint is None or checkpoint.source_offset <= 0:
            return None
        rows_read = checkpoint.next_row - 1
        if rows_read <= 0 or self.source_bytes <= 0:
            return None
        return max(rows_read, round(rows_read * self.source_bytes / checkpoint.source_offset))

    control: str = ""  # "", CANCELLED or HALTED
    control_reason: str = ""
    rows_cancelled: int = 0
    rows_unsplit: int = 0  # of rows_cancelled: rows the splitter never sent
    rows_failing: int = 0
    # The posted rows the failure threshold leaves out: those before the last resume.
    threshold_base_posted: int = 0
    threshold: FailureThreshold | None = None

    @property
    def stopped(self) -> bool:
        return self.control in STOPPED_STATES

    @property
    def rows_settled(self) -> int:
        """Rows that need nothing more; a cancelled row does only while the job stays stopped."""
        cancelled = self.rows_cancelled if self.stopped else 0
        return self.rows_posted + self.rows_failed + self.rows_rejected + cancelled

    @property
    def state(self) -> str:
        """splitting, running, done, done_with_failures, failed, cancelled or halted."""
        if self.split_state == SPLIT_FAILED:
            return "failed"
        if self.stopped:
            return self.control
        if self.split_state == SPLITTING or self.rows_total is None:
            return "splitting"
        if self.rows_settled < self.rows_total:
            return "running"
        return "done_with_failures" if self.rows_failed or self.rows_rejected else "done"

    @property
    def is_finished(self) -> bool:
        """Nothing more will happen: every row is accounted for (a stopped job's rest as cancelled)."""
        if self.split_state == SPLIT_FAILED:
            return True
        if self.split_state == SPLITTING or self.rows_total is None:
            return False
        return self.rows_settled >= self.rows_total


def _n(item: dict[str, Any], name: str) -> int:
    return int(item[name]["N"]) if name in item else 0


def _job_from_item(item: dict[str, Any]) -> Job:
    return Job(
        job_id=item["job_id"]["S"],
        bucket=item["bucket"]["S"],
        key=item["key"]["S"],
        version=item["version"]["S"],
        split_state=item["split_state"]["S"],
        rows_total=int(item["rows_total"]["N"]) if "rows_total" in item else None,
        rows_posted=_n(item, "rows_posted"),
        rows_failed=_n(item, "rows_failed"),
        rows_rejected=_n(item, "rows_rejected"),
        created_at=item["created_at"]["S"],
        updated_at=item.get("updated_at", item["created_at"])["S"],
        started=float(item["started"]["N"]),
        finished=float(item["finished"]["N"]) if "finished" in item else None,
        error=item.get("error", {}).get("S", ""),
        checkpoint=_checkpoint_from_item(item),
        calls_throttled=_n(item, "calls_throttled"),
        result_parts=_n(item, "result_parts"),
        format=item.get("format", {}).get("S", ""),
        reported_at=item.get("reported_at", {}).get("S", ""),
        results_key=item.get("results_key", {}).get("S", ""),
        report_until=float(item["report_until"]["N"]) if "report_until" in item else None,
        results_at=item.get("results_at", {}).get("S", ""),
        invocation_failures=_n(item, "invocation_failures"),
        source_bytes=_n(item, "source_bytes"),
        last_invocation_failure=item.get("last_invocation_failure", {}).get("S", ""),
        request=_request_from_item(item),
        request_pinned="request" in item,
        control=item.get("control", {}).get("S", ""),
        control_reason=item.get("control_reason", {}).get("S", ""),
        rows_cancelled=_n(item, "rows_cancelled"),
        rows_unsplit=_n(item, "rows_unsplit"),
        rows_failing=_n(item, "rows_failing"),
        threshold_base_posted=_n(item, "threshold_base_posted"),
        threshold=FailureThreshold.from_item(item),
    )


def _request_from_item(item: dict[str, Any]) -> RequestRef | None:
    """The pinned spec; an empty list is the default request, pinned as such."""
    parts = [v["S"] for v in item.get("request", {}).get("L", [])]
    return RequestRef.from_json(parts) if parts else None


def _checkpoint_from_item(item: dict[str, Any]) -> SplitCheckpoint | None:
    if "cp_offset" not in item:
        return None
    return SplitCheckpoint(
        offset=int(item["cp_offset"]["N"]),
        next_row=int(item["cp_next_row"]["N"]),
        next_seq=int(item["cp_next_seq"]["N"]),
        rows_rejected=_n(item, "rows_rejected"),
        columns=tuple(c["S"] for c in item["columns"]["L"]),
        delimiter=item["delimiter"]["S"],
        source_offset=_n(item, "cp_source_offset")
        if "cp_source_offset" in item
        else int(item["cp_offset"]["N"]),
    )


def counter_update(job_id: str, table: str, deltas: dict[str, int]) -> dict[str, Any]:
    """An Update action adding to the job's counters, for a transaction or on its own."""
    names = [name for name in COUNTERS if deltas.get(name)]
    expression = "ADD " + ", ".join(f"{n} :{n}" for n in names) + " SET updated_at = :now"
    values: dict[str, Any] = {f":{n}": {"N": str(deltas[n])} for n in names}
    values[":now"] = {"S": now_iso()}
    return {
        "TableName": table,
        "Key": {"job_id": {"S": job_id}},
        "UpdateExpression": expression,
        "ExpressionAttributeValues": values,
    }


class JobStore:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    @property
    def table(self) -> str:
        return self._table

    def create(
        self, job_id: str, bucket: str, key: str, version: str, threshold: FailureThreshold | None = None
    ) -> bool:
        """Record a new job; False if this object version already has one."""
        now = now_iso()
        item: dict[str, Any] = {
            "job_id": {"S": job_id},
            "bucket": {"S": bucket},
            "key": {"S": key},
            "version": {"S": version},
            "split_state": {"S": SPLITTING},
            "created_at": {"S": now},
            "updated_at": {"S": now},
            "started": {"N": repr(time.time())},
        }
        if threshold is not None:
            item.update(threshold.as_item())
        try:
            self._db.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(job_id)",
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, job_id: str) -> Job | None:
        item = self._db.get_item(TableName=self._table, Key={"job_id": {"S": job_id}}, ConsistentRead=True)
        return _job_from_item(item["Item"]) if "Item" in item else None

    def list(self) -> list[Job]:
        jobs: list[Job] = []
        for page in self._db.get_paginator("scan").paginate(TableName=self._table):
            jobs.extend(_job_from_item(item) for item in page["Items"])
        return sorted(jobs, key=lambda job: job.started)

    def _update_if(
        self,
        job_id: str,
        expression: str,
        condition: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> bool:
        """One conditional update of the job's record; False when the condition did not hold."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"job_id": {"S": job_id}},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            self._db.update_item(**request)
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def add_counts(self, job_id: str, deltas: dict[str, int]) -> None:
        if any(deltas.get(name) for name in COUNTERS):
            self._db.update_item(**counter_update(job_id, self._table, deltas))

    def save_checkpoint(
        self, job_id: str, checkpoint: SplitCheckpoint, source_bytes: int, format_description: str
    ) -> Job:
        """Where the split stands, and the size of the object it reads (for the progress estimate);
        the job as it stands then (the splitter sees a cancel here)."""
        item = self._db.update_item(
            TableName=self._table,
            Key={"job_id": {"S": job_id}},
            UpdateExpression="SET cp_offset = :o, cp_next_row = :r, cp_next_seq = :s, rows_rejected = :rej, "
            "#c = :c, delimiter = :d, #f = :f, updated_at = :now, "
            "cp_source_offset = :so, source_bytes = :sb",
            ExpressionAttributeNames={"#c": "columns", "#f": "format"},
            ExpressionAttributeValues={
                ":o": {"N": str(checkpoint.offset)},
                ":r": {"N": str(checkpoint.next_row)},
                ":s": {"N": str(checkpoint.next_seq)},
                ":rej": {"N": str(checkpoint.rows_rejected)},
                ":c": {"L": [{"S": c} for c in checkpoint.columns]},
                ":d": {"S": checkpoint.delimiter},
                ":f": {"S": format_description},
                ":now": {"S": now_iso()},
                ":so": {"N": str(checkpoint.source_offset)},
                ":sb": {"N": str(source_bytes)},
            },
            ReturnValues="ALL_NEW",
        )
        return _job_from_item(item["Attributes"])

    def set_request(self, job_id: str, request: RequestRef | None) -> None:
        """Pins the job's request spec (None: the default request, so that a DefaultRequest set
        later does not change a job that started without one)."""
        self._db.update_item(
            TableName=self._table,
            Key={"job_id": {"S": job_id}},
            UpdateExpression="SET #r = :r, updated_at = :now",
            ExpressionAttributeNames={"#r": "request"},
            ExpressionAttributeValues={
                ":r": {"L": [{"S": part} for part in request.to_json()] if request else []},
                ":now": {"S": now_iso()},
            },
        )

    def take_lease(self, job_id: str, owner: str, until: float) -> bool:
        """The right to split this job until `until` (epoch seconds); False while another holds it."""
        return self._update_if(
            job_id,
            "SET lease_owner = :me, lease_until = :until",
            "split_state = :splitting AND "
            "(attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :me)",
            {
                ":me": {"S": owner},
                ":until": {"N": repr(until)},
                ":now": {"N": repr(time.time())},
                ":splitting": {"S": SPLITTING},
            },
        )

    def release_lease(self, job_id: str, owner: str) -> None:
        # If another invocation took it over after ours expired, there is nothing of ours to release.
        self._update_if(
            job_id, "SET lease_until = :zero", "lease_owner = :me", {":me": {"S": owner}, ":zero": {"N": "0"}}
        )

    def finish_split(self, job_id: str, rows_total: int, rows_rejected: int) -> None:
        self._db.update_item(
            TableName=self._table,
            Key={"job_id": {"S": job_id}},
            UpdateExpression="SET split_state = :s, rows_total = :t, rows_rejected = :r, updated_at = :now",
            ExpressionAttributeValues={
                ":s": {"S": SPLIT},
                ":t": {"N": str(rows_total)},
                ":r": {"N": str(rows_rejected)},
                ":now": {"S": now_iso()},
            },
        )

    def claim_report(self, job_id: str, rows_posted: int, result_parts: int = 0) -> ReportClaim | None:
        """Claims a finished job's report for REPORT_CLAIM_S; None if another holds or made it.

        The condition makes the claim exactly-once-ish: of every worker (and the splitter) that
        sees the job finished, one alone reports it. A job finishes again when a redrive posts
        rows that had failed: more rows posted than the last report counted claims a new one, and
        so do more result parts (a redrive whose rows failed again, with new reasons). A claim
        is a lease: while it is fresh nobody else claims (the holder looks again once it is done,
        so no change is left out); once stale, its holder is presumed dead and anyone may claim.
        """
        now = time.time()
        claim = ReportClaim(job_id, uuid.uuid4().hex, now, rows_posted, result_parts)
        claimed = self._update_if(
            job_id,
            "SET finished = :f, reported_posted = :posted, reported_parts = :parts, "
            "report_token = :token, report_until = :until",
            "attribute_exists(job_id) AND ((attribute_not_exists(report_until) "
            "AND (attribute_not_exists(reported_posted) OR reported_posted < :posted "
            "OR reported_parts < :parts)) OR report_until < :now)",
            {
                ":f": {"N": repr(now)},
                ":posted": {"N": str(rows_posted)},
                ":parts": {"N": str(result_parts)},
                ":token": {"S": claim.token},
                ":until": {"N": repr(now + REPORT_CLAIM_S)},
                ":now": {"N": repr(now)},
            },
        )
        return claim if claimed else None

    def hold_report(self, claim: ReportClaim, until: float) -> bool:
        """Extends the claim to `until` for the work of reporting; False if it is no longer held
        (reported already, or claimed again once stale)."""
        return self._update_if(
            claim.job_id,
            "SET report_until = :until",
            "report_token = :token",
            {":token": {"S": claim.token}, ":until": {"N": repr(until)}},
        )

    def finish_report(self, claim: ReportClaim, results_key: str | None) -> bool:
        """The claimed report is written (and the results file at `results_key`, if any): the
        claim ends. False if it was no longer held."""
        expression = "SET reported_at = :now REMOVE report_token, report_until"
        values: dict[str, Any] = {":token": {"S": claim.token}, ":now": {"S": now_iso()}}
        if results_key:
            expression = expression.replace(":now ", ":now, results_key = :k, results_at = :now ")
            values[":k"] = {"S": results_key}
        return self._update_if(claim.job_id, expression, "report_token = :token", values)

    def release_report(self, claim: ReportClaim) -> None:
        """Gives up a claim whose report could not be written, so a later check reports it."""
        # False when it is not ours now: nothing to give up.
        self._update_if(
            claim.job_id,
            "REMOVE finished, reported_posted, reported_parts, report_token, report_until",
            "report_token = :token",
            {":token": {"S": claim.token}},
        )

    def record_failure(self, job_id: str, reason: str) -> None:
        """Counts an invocation that failed on this job's messages, with its cause."""
        # False when there is no such job: nothing to count on.
        self._update_if(
            job_id,
            "ADD invocation_failures :one SET last_invocation_failure = :r, updated_at = :now",
            "attribute_exists(job_id)",
            {":one": {"N": "1"}, ":r": {"S": reason}, ":now": {"S": now_iso()}},
        )

    def fail_split(self, job_id: str, reason: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key={"job_id": {"S": job_id}},
            UpdateExpression="SET split_state = :s, #e = :e, updated_at = :now",
            ExpressionAttributeNames={"#e": "error"},
            ExpressionAttributeValues={
                ":s": {"S": SPLIT_FAILED},
                ":e": {"S": reason},
                ":now": {"S": now_iso()},
            },
        )

    def stop(self, job_id: str, control: str, reason: str) -> bool:
        """Cancels or halts a job; False if it was stopped already (the first reason stands)."""
        return self._update_if(
            job_id,
            "SET control = :c, control_reason = :r, control_at = :now, updated_at = :now",
            "attribute_exists(job_id) AND attribute_not_exists(control)",
            {":c": {"S": control}, ":r": {"S": reason}, ":now": {"S": now_iso()}},
        )

    def stop_split(self, job_id: str, rows_total: int, rows_unsplit: int) -> None:
        """The splitter stopped: the rows it did not send count as cancelled until a resume."""
        self._db.update_item(
            TableName=self._table,
            Key={"job_id": {"S": job_id}},
            UpdateExpression="SET split_state = :stopped, rows_total = :t, rows_unsplit = :u, "
            "updated_at = :now ADD rows_cancelled :u",
            ConditionExpression="split_state = :splitting",
            ExpressionAttributeValues={
                ":stopped": {"S": SPLIT_STOPPED},
                ":splitting": {"S": SPLITTING},
                ":t": {"N": str(rows_total)},
                ":u": {"N": str(rows_unsplit)},
                ":now": {"S": now_iso()},
            },
        )

    def clear_stop(self, job: Job) -> bool:
        """Resumes a stopped job as `job` shows it; False if it changed meanwhile.

        The failure threshold starts counting afresh. A stopped split goes back to splitting from
        its checkpoint, and the rows it never sent are no longer counted as cancelled.
        """
        expression = (
            "REMOVE control, control_reason, control_at "
            "SET rows_failing = :zero, threshold_base_posted = :posted, updated_at = :now"
        )
        values: dict[str, Any] = {
            ":c": {"S": job.control},
            ":split": {"S": job.split_state},
            ":zero": {"N": "0"},
            ":posted": {"N": str(job.rows_posted)},
            ":now": {"S": now_iso()},
        }
        if job.split_state == SPLIT_STOPPED:
            expression = expression.replace("REMOVE control,", "REMOVE rows_unsplit, control,")
            expression += ", split_state = :splitting ADD rows_cancelled :unsplit"
            values[":splitting"] = {"S": SPLITTING}
            values[":unsplit"] = {"N": str(-job.rows_unsplit)}
        return self._update_if(job.job_id, expression, "control = :c AND split_state = :split", values)
