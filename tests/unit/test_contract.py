import pytest

from fanout.contract import RequestRef, Row, WorkMessage, idempotency_key, job_id_for
from fanout.errors import PermanentError
from fanout.s3events import object_version, objects_created


def test_work_message_round_trips_through_its_body() -> None:
    message = WorkMessage("job-1", 7, ("a", "b"), (Row(1, ("x", "ü")), Row(2, ("", "\n"))))
    assert WorkMessage.from_body(message.to_body()) == message
    assert message.key == "job-1#7"


def test_failures_travel_with_a_narrowed_message() -> None:
    message = WorkMessage("job-1", 1, ("a",), (Row(1, ("x",)), Row(2, ("y",))))
    dead = message.with_rows({2}, {2: {"status": 400, "error": "HTTP 400", "attempts": 1}})
    back = WorkMessage.from_body(dead.to_body())
    assert back.rows == (Row(2, ("y",)),)
    assert back.failures == {2: {"status": 400, "error": "HTTP 400", "attempts": 1}}


@pytest.mark.parametrize("body", ["not json", '{"v": 99}', '{"v": 1, "job": "j"}'])
def test_a_malformed_body_is_a_permanent_error(body: str) -> None:
    with pytest.raises(PermanentError):
        WorkMessage.from_body(body)


def test_idempotency_key() -> None:
    assert idempotency_key("job", 42) == "job:42"


def test_the_pinned_request_spec_travels_with_the_message_and_its_dead_letters() -> None:
    ref = RequestRef("bucket", "requests/customers.json", "v-1")
    message = WorkMessage("job-1", 1, ("a",), (Row(1, ("x",)), Row(2, ("y",))), request=ref)
    assert WorkMessage.from_body(message.to_body()).request == ref
    dead = message.with_rows({2}, {2: {"status": 400, "error": "HTTP 400", "attempts": 1}})
    assert WorkMessage.from_body(dead.to_body()).request == ref
    assert WorkMessage.from_body(WorkMessage("j", 1, ("a",), ()).to_body()).request is None


def test_job_id_is_one_per_object_version() -> None:
    first = job_id_for("bucket", "incoming/Sales 2026.csv", "v1")
    assert first == job_id_for("bucket", "incoming/Sales 2026.csv", "v1")
    assert first != job_id_for("bucket", "incoming/Sales 2026.csv", "v2")
    assert first.startswith("Sales-2026-")


def test_object_version_prefers_the_version_id() -> None:
    assert object_version("abc", '"etag"') == "abc"
    assert object_version(None, '"etag"') == "etag"
    assert object_version("null", '"etag"') == "etag"


def test_s3_notification_keys_are_decoded_and_test_events_ignored() -> None:
    body = (
        '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, '
        '"object": {"key": "incoming/my+file%C3%BC.csv", "eTag": "e", "versionId": "v"}}}]}'
    )
    (ref,) = objects_created(body)
    assert (ref.bucket, ref.key, ref.version_id) == ("b", "incoming/my fileü.csv", "v")
    assert objects_created('{"Service": "Amazon S3", "Event": "s3:TestEvent"}') == []
