"""A moto release that renames or reshapes what an emulator patch replaces fails, naming the patch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from moto import backends
from moto.awslambda.models import LambdaBackend
from moto.cloudwatch.models import CloudWatchBackend
from moto.core.base_backend import AccountSpecificBackend
from moto.core.common_models import BaseModel
from moto.dynamodb import models as dynamodb
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server import threaded_moto_server, werkzeug_app
from moto.s3.models import FakeKey, FakeMultipart
from moto.s3.responses import S3Response
from moto.sqs import models as sqs
from werkzeug.serving import WSGIRequestHandler

from infra.local import emulator_fixes as fixes
from infra.local import emulator_objects as objects
from infra.local import emulator_speedups as speedups
from infra.local.moto_patches import MotoPatchError, moto_version

# (the patch, what it replaces, the name): every name a patch takes from moto or werkzeug.
TARGETS: list[tuple[Callable[[], None], Any, str]] = [
    (fixes._isolate_dynamodb_items, DynamoHandler, "call_action"),
    (fixes._serialize_sqs_receives, sqs.SQSBackend, "receive_message"),
    (fixes._serialize_sqs_receives, sqs.SQSBackend, "delete_message"),
    (fixes._serialize_sqs_receives, sqs.SQSBackend, "change_message_visibility"),
    (fixes._event_source_mappings_as_configuration, LambdaBackend, "create_event_source_mapping"),
    (fixes._event_source_mappings_as_configuration, sqs, "sqs_backends"),
    (fixes._snapshot_transaction_items_only, dynamodb, "copy"),
    (fixes._snapshot_transaction_items_only, dynamodb.DynamoDBBackend, "transact_write_items"),
    (speedups._sqs_clock_without_datetime, sqs, "unix_time"),
    (speedups._sqs_clock_without_datetime, sqs, "unix_time_millis"),
    (speedups._moto_modules_listed_once, backends, "list_of_moto_modules"),
    (speedups._update_expressions_parsed_once, UpdateExpressionParser, "make"),
    (speedups._retention_period_read_directly, sqs.SQSBackend, "is_message_valid_based_on_retention_period"),
    (speedups._queue_counted_in_one_clock_read, sqs.Queue, "approximate_number_of_messages"),
    (speedups._queue_counted_in_one_clock_read, sqs.Queue, "approximate_number_of_messages_delayed"),
    (speedups._queue_counted_in_one_clock_read, sqs.Queue, "approximate_number_of_messages_not_visible"),
    (speedups._metrics_found_by_name, CloudWatchBackend, "get_metric_statistics"),
    (speedups._metrics_found_by_name, CloudWatchBackend, "get_filtered_metrics"),
    (speedups._metrics_found_by_name, CloudWatchBackend, "get_all_metrics"),
    (speedups._regions_from_the_served_model, AccountSpecificBackend, "_generate_regions"),
    (speedups._connections_kept_alive, threaded_moto_server, "MotoRequestHandler"),
    (speedups._connections_kept_alive, werkzeug_app, "MotoRequestHandler"),
    (speedups._connections_kept_alive, WSGIRequestHandler, "run_wsgi"),
    (speedups._connections_kept_alive, werkzeug_app.MotoRequestHandler, "make_environ"),
    (objects._get_object_streamed, S3Response, "get_object"),
    (objects._get_object_streamed, S3Response, "_get_key"),
    (objects._multipart_joined_on_disk, FakeKey, "value"),
    (objects._multipart_joined_on_disk, FakeMultipart, "complete"),
    (objects._put_bodies_streamed, S3Response, "key_response"),
    (objects._put_bodies_streamed, S3Response, "setup_class"),
]


def _patch_name(patch: Callable[[], None]) -> str:
    return patch.__name__.lstrip("_")


def test_every_patch_applies_to_the_installed_moto() -> None:
    # The pin in pyproject.toml and the patches agree (applying twice changes nothing more).
    for patch in {patch for patch, _, _ in TARGETS}:
        patch()
        patch()


@pytest.mark.parametrize(("patch", "owner", "name"), TARGETS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_a_patch_whose_target_is_gone_fails_naming_the_patch_and_moto_s_version(
    monkeypatch: pytest.MonkeyPatch, patch: Callable[[], None], owner: Any, name: str
) -> None:
    # GIVEN a moto without the name the patch replaces (renamed or removed in a new release)
    for holder in getattr(owner, "__mro__", (owner,)):
        if name in vars(holder):
            monkeypatch.delattr(holder, name)
    # WHEN the patch is applied THEN it fails, naming itself, the name, and the moto version
    with pytest.raises(MotoPatchError, match=f"{_patch_name(patch)}: moto {moto_version()} has no .*{name}"):
        patch()


def test_the_untracked_models_patch_applies_and_fails_on_a_reshaped_base_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # (Not in TARGETS: a class without its own __new__ still has object's, so it is never "gone".)
    fixes._messages_and_items_not_tracked()
    fixes._messages_and_items_not_tracked()

    def new(cls: type) -> object:
        return object.__new__(cls)

    monkeypatch.setattr(BaseModel, "__new__", new)
    with pytest.raises(MotoPatchError, match=r"messages_and_items_not_tracked: .*BaseModel.__new__\(cls\)"):
        fixes._messages_and_items_not_tracked()


def test_a_patch_whose_target_takes_other_parameters_fails_showing_both_signatures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a moto whose receive_message lost a parameter
    def receive_message(self: object, queue_name: str, count: int) -> list[object]:
        return []

    monkeypatch.setattr(sqs.SQSBackend, "receive_message", receive_message)
    # WHEN the receive lock is applied THEN it fails, saying what it found and what it expects
    with pytest.raises(MotoPatchError) as failure:
        fixes._serialize_sqs_receives()
    assert str(failure.value) == (
        f"emulator patch serialize_sqs_receives: moto {moto_version()} has"
        " SQSBackend.receive_message(self, queue_name, count), the patch expects SQSBackend.receive_message"
        "(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names)"
    )
    # AND nothing of the patch was put in place
    assert sqs.SQSBackend.__dict__["receive_message"] is receive_message


def test_a_patch_that_reads_an_instance_attribute_moto_no_longer_sets_fails_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue_init = sqs.Queue.__init__

    def init_without_mappings(self: sqs.Queue, *args: Any, **kwargs: Any) -> None:
        queue_init(self, *args, **kwargs)
        del self.lambda_event_source_mappings

    monkeypatch.setattr(sqs.Queue, "__init__", init_without_mappings)
    with pytest.raises(
        MotoPatchError, match=r"event_source_mappings_as_configuration: .*lambda_event_source_mappings"
    ):
        fixes._event_source_mappings_as_configuration()
