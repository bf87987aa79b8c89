"""The objects named by an S3 event notification, as it reaches us through SQS."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from fanout.errors import PermanentError


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    key: str
    version_id: str | None
    etag: str


def object_version(version_id: str | None, etag: str) -> str:
    """What tells one version of an object apart: its version id, else its ETag (unquoted)."""
    return version_id if version_id and version_id != "null" else etag.strip('"')


def objects_created(body: str) -> list[ObjectRef]:
    """The created objects in a notification; [] for S3's test event."""
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise PermanentError(f"intake message is not JSON: {exc}") from exc
    try:
        return _created(event)
    except (AttributeError, KeyError, TypeError) as exc:
        raise PermanentError(f"intake message is not an S3 event notification: {exc!r}") from exc


def _created(event: dict[str, Any]) -> list[ObjectRef]:
    if event.get("Event") == "s3:TestEvent":
        return []
    refs = []
    for record in event.get("Records", []):
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3 = record["s3"]
        refs.append(
            ObjectRef(
                bucket=s3["bucket"]["name"],
                # S3 event keys are URL-encoded with '+' for spaces (S3 User Guide, event message structure).
                key=unquote_plus(s3["object"]["key"]),
                version_id=s3["object"].get("versionId") or None,
                etag=str(s3["object"].get("eTag", "")),
            )
        )
    return refs


def created_notification(bucket: str, key: str, version_id: str) -> str:
    """A notification of one created object, as S3 sends it (quoted key and all): a split that
    stopped is started again by sending its file's notification once more."""
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": bucket},
            "object": {"key": quote_plus(key, safe="/"), "versionId": version_id},
        },
    }
    return json.dumps({"Records": [record]})
