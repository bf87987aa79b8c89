"""Where moto's server falls short of the AWS behaviour Fanout relies on, and the fixes.

Applied in the emulator's own process before it serves. Each fix says what moto does, what
AWS does, and what was seen without the fix.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict
from typing import Any

from infra.local.moto_patches import has_attributes, install, original


def apply_fixes() -> None:
    _snapshot_transaction_items_only()
    _isolate_dynamodb_items()
    _serialize_sqs_receives()
    _event_source_mappings_as_configuration()
    _messages_and_items_not_tracked()
    _complete_uploads_once()


def _isolate_dynamodb_items() -> None:
    """One DynamoDB request at a time in the emulator, from its parsed input to its response.

    moto's TransactWriteItems snapshots whole tables and, when a condition fails, puts the
    snapshots back, which silently undoes writes other threads made meanwhile (measured: job
    counters lost under 16 concurrent transactions). DynamoDB isolates transactions from other
    writes.

    moto also applies an update attribute by attribute, and a read in another thread could copy
    the item halfway (seen: `make bench` read a job with the splitter's first checkpoint half
    written, `cp_offset` without `cp_next_seq`); Query and Scan hand the live items to the
    response serializer. DynamoDB reads an item whole. The interpreter runs one request's Python
    at a time anyway, so the lock costs interleaving, not parallelism.
    """
    from moto.dynamodb.responses import DynamoHandler

    _hold_while_running(
        "isolate_dynamodb_items", threading.RLock(), DynamoHandler, {"call_action": ("self",)}
    )


def _serialize_sqs_receives() -> None:
    """One lock around the emulator's SQS receives, deletes and visibility changes.

    moto's ReceiveMessage checks that a message is visible and then marks it received with no
    lock between, so two pollers can both get the same message (seen: rows posted twice by
    concurrent invocations). The long-poll wait happens outside the lock, so one waiting poller
    does not hold up the others.
    """
    from moto.sqs.models import SQSBackend

    patch = "serialize_sqs_receives"
    lock = threading.RLock()
    receive = original(
        patch,
        SQSBackend,
        "receive_message",
        (
            "self",
            "queue_name",
            "count",
            "wait_seconds_timeout",
            "visibility_timeout",
            "message_attribute_names",
        ),
    )

    def locked_receive(
        self: Any, queue_name: str, count: int, wait_seconds_timeout: int, visibility_timeout: int, *args: Any
    ) -> Any:
        deadline = time.monotonic() + wait_seconds_timeout
        while True:
            with lock:
                messages = receive(self, queue_name, count, 0, visibility_timeout, *args)
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0:
                return messages
            self.get_queue(queue_name).wait_for_messages(min(remaining, 1.0))

    held = {
        "delete_message": ("self", "queue_name", "receipt_handle"),
        "change_message_visibility": ("self", "queue_name", "receipt_handle", "visibility_timeout"),
    }
    _hold_while_running(patch, lock, SQSBackend, held)
    install(SQSBackend, "receive_message", locked_receive)


def _hold_while_running(
    patch: str, lock: threading.RLock, cls: type, methods: dict[str, tuple[str, ...]]
) -> None:
    """Replaces each of the class's methods (name: its parameters) by one that runs it holding `lock`."""
    originals = {name: original(patch, cls, name, parameters) for name, parameters in methods.items()}
    for name, method in originals.items():

        def locked(self: object, *args: object, _original: Any = method, **kwargs: object) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        install(cls, name, locked)


def _event_source_mappings_as_configuration() -> None:
    """Event source mappings kept as configuration only: the local runtime polls the queues.

    moto would otherwise invoke the function itself on every SendMessage (through Docker, which
    does not run here). The mapping's settings (Enabled, ScalingConfig, BatchSize) stay readable
    and updatable through the Lambda API, which is how `fanout pause/resume/throttle` reach the
    local stack as they reach AWS.
    """
    from moto.awslambda.models import LambdaBackend
    from moto.sqs import models as sqs

    patch = "event_source_mappings_as_configuration"
    create = original(patch, LambdaBackend, "create_event_source_mapping", ("self", "spec"))
    backends = original(patch, sqs, "sqs_backends")
    # A queue made here only to read its attributes (moto's abstract is_created is CloudFormation's).
    probe = sqs.Queue("probe", region="us-east-1", account_id="123456789012")  # type: ignore[abstract]
    has_attributes(patch, probe, ["lambda_event_source_mappings"])

    def create_detached(self: Any, spec: dict[str, Any]) -> Any:
        mapping = create(self, spec)
        for queue in backends[self.account_id][self.region_name].queues.values():
            queue.lambda_event_source_mappings.pop(mapping.function_arn, None)
        return mapping

    install(LambdaBackend, "create_event_source_mapping", create_detached)


def _snapshot_transaction_items_only() -> None:
    """TransactWriteItems rolls back the items it touched, not whole tables.

    moto deep-copies every table a transaction names before applying it, so its cost grows with
    the table (measured: 180 ms for a 10-message ledger transaction on an empty table, 620 ms at
    1,000 ledger items). Writes are serialized (above), so copying just the target items and
    putting them back on a failed condition is the same rollback.
    """
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    patch = "snapshot_transaction_items_only"
    original(patch, models, "copy")
    transact = original(patch, models.DynamoDBBackend, "transact_write_items", ("self", "transact_items"))

    class _TablesNotCopied:
        """moto's `copy` module for its transaction, except that tables are not copied."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def transact_with_item_rollback(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = [_saved_item(self, op) for item in transact_items for op in item.values()]
        try:
            transact(self, transact_items)
        except Exception:
            for table_name, key, before in saved:
                _restore(self, table_name, key, before)
            raise

    install(models, "copy", _TablesNotCopied())
    install(models.DynamoDBBackend, "transact_write_items", transact_with_item_rollback)


def _saved_item(backend: Any, op: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    table = backend.get_table(op["TableName"])
    if "Key" in op:
        key = op["Key"]
    else:
        key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = op["Item"][table.range_key_attr]
    current = backend.get_item(op["TableName"], key)
    return op["TableName"], key, copy.deepcopy(current.to_json()["Attributes"]) if current else None


def _restore(backend: Any, table_name: str, key: dict[str, Any], before: dict[str, Any] | None) -> None:
    if before is None:
        if backend.get_item(table_name, key) is not None:
            backend.delete_item(table_name, key)
    else:
        backend.put_item(table_name, before)


def _messages_and_items_not_tracked() -> None:
    """SQS messages and DynamoDB items are not kept in moto's list of every model it ever made.

    moto appends every model instance to its class's `instances_tracked` (for its dashboard's
    data.json and its reset) and never removes one: each message body sent stayed in the
    emulator's memory after it was deleted (measured: +105 MB resident for 100 MB of messages
    sent and deleted; a 1 GB `fanout run` peaked at 1,196 MB in the emulator), and each item
    version written, too. Fanout reads neither list; S3's reset reads its keys', which stay.
    """
    from moto.core.common_models import BaseModel
    from moto.dynamodb.models.dynamo_type import Item
    from moto.sqs.models import Message

    patch = "messages_and_items_not_tracked"
    tracked_new = original(patch, BaseModel, "__new__", ("cls", "args", "kwargs"))
    untracked = (Message, Item)

    def new_maybe_tracked(cls: type, *args: Any, **kwargs: Any) -> Any:
        if issubclass(cls, untracked):
            return object.__new__(cls)
        return tracked_new(cls, *args, **kwargs)

    install(BaseModel, "__new__", new_maybe_tracked)


# Completed uploads remembered for a completion sent again: a retry comes within minutes, and
# a run completes one upload, so the last thousand are plenty.
COMPLETED_UPLOADS_KEPT = 1000


def _complete_uploads_once() -> None:
    """A multipart upload is completed once; a completion sent again answers the object it made.

    moto looks the upload up, joins its parts (on disk, infra/local/emulator_objects.py: 1.1 s
    for 256 MB here at load 4-5) and only then removes the upload. A completion sent again
    meanwhile, by a client that stopped waiting for the first, joined the parts a second time
    and then failed to remove the upload the first had removed: 500 (a 1 GB `fanout run` at
    load 20 failed on CompleteMultipartUpload, issue 16); a completion of an unknown upload was
    a 500 too. S3 answers an unknown upload by NoSuchUpload, and a completion sent again after
    the first one by the object the first made (which moto does too, once the object is there).
    Here an upload's completions take its lock in turn, and one after the first, with the same
    parts, answers the object the first made.
    """
    from moto.s3.exceptions import NoSuchUpload
    from moto.s3.models import S3Backend

    from fanout.s3_objects import multipart_etag

    patch = "complete_uploads_once"
    complete = original(
        patch, S3Backend, "complete_multipart_upload", ("self", "bucket_name", "multipart_id", "body")
    )
    locks_lock = threading.Lock()
    locks: dict[str, threading.Lock] = {}  # upload id: its lock, until it is completed
    # (bucket, upload id): the key name, version id and ETag of the object it made
    completed: OrderedDict[tuple[str, str], tuple[str, str | None, str]] = OrderedDict()

    def complete_once(self: Any, bucket_name: str, multipart_id: str, body: Any) -> Any:
        with locks_lock:
            lock = locks.setdefault(multipart_id, threading.Lock())
        try:
            return complete_holding(self, bucket_name, multipart_id, body, lock)
        finally:
            if multipart_id not in self.get_bucket(bucket_name).multiparts:
                # Completed, aborted or never made: no completion of it can run any more, so
                # whoever waits on its lock, or asks later under a new one, only reads.
                with locks_lock:
                    locks.pop(multipart_id, None)

    def complete_holding(
        self: Any, bucket_name: str, multipart_id: str, body: Any, lock: threading.Lock
    ) -> Any:
        with lock:
            made = completed.get((bucket_name, multipart_id))
            if made is not None:
                name, version_id, etag = made
                key = self.get_object(bucket_name, name, version_id=version_id)
                if key is None or multipart_etag([part_etag for _, part_etag in body]) != etag:
                    raise NoSuchUpload(upload_id=multipart_id)  # other parts, or the object is gone
                return key
            if multipart_id not in self.get_bucket(bucket_name).multiparts:
                raise NoSuchUpload(upload_id=multipart_id)
            key = complete(self, bucket_name, multipart_id, body)
            if key is None:
                return key
            completed[(bucket_name, multipart_id)] = (key.name, key.version_id, key.etag)
            while len(completed) > COMPLETED_UPLOADS_KEPT:
                completed.popitem(last=False)
            return key

    install(S3Backend, "complete_multipart_upload", complete_once)
