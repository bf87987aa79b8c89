"""The splitter's SQS event: each intake message is an S3 notification naming new objects."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from fanout.s3events import objects_created
from splitter.core import Splitter


class IntakeProcessor:
    def __init__(self, splitter: Splitter) -> None:
        self._splitter = splitter

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        processor = BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False)
        response = process_partial_response(event, self._record, processor, context)
        return dict(response)

    def _record(self, record: SQSRecord) -> None:
        for ref in objects_created(record.body):
            self._splitter.split(ref)
