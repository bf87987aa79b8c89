"""The worker's core against SQS and DynamoDB on the emulator and a real API on loopback."""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
from typing import Any

import boto3
import pytest

from infra.demo.api import Call, DemoApi, Reply
from infra.local.stack import LocalStack, local_stack
from tests.functional.helpers import (
    JOB,
    dead_letters,
    invoke,
    job,
    message,
    receive_all,
    refuse_multiples_of_seven,
    setup_job,
)
from worker.handler import build


def test_every_row_is_posted_once_with_its_values(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    # GIVEN three messages of rows
    received = setup_job(session, stack, [message(1, 1, 30), message(2, 31, 30), message(3, 61, 5)])
    # WHEN one worker invocation handles them
    response = invoke(session, stack, received)
    # THEN nothing is reported failed, every row was posted once, as a JSON object of its values
    assert response == {"batchItemFailures": []}
    assert sorted(api.successes) == sorted(f"{JOB}:{n}" for n in range(1, 66))
    assert set(api.successes.values()) == {1}
    assert api.payloads[f"{JOB}:7"] == {"id": "7", "text": "value 7, ü"}
    current = job(session, stack)
    assert (current.rows_posted, current.rows_failed, current.state) == (65, 0, "done")


def test_redelivered_messages_post_nothing_again(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    received = setup_job(session, stack, [message(1, 1, 20)])
    invoke(session, stack, received)
    # WHEN SQS delivers the same message again
    assert invoke(session, stack, received) == {"batchItemFailures": []}
    # THEN the API saw each row once and the counts did not move
    assert sum(api.attempts.values()) == 20
    assert job(session, stack).rows_posted == 20


def test_refused_rows_go_to_the_dlq_with_reasons_and_do_not_hold_up_the_rest(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    api.decide = refuse_multiples_of_seven
    received = setup_job(session, stack, [message(1, 1, 20)])
    # WHEN a message holds rows the API refuses with 400
    response = invoke(session, stack, received)
    # THEN the message is settled (no retry of a permanent refusal) ...
    assert response == {"batchItemFailures": []}
    assert all(n == 1 for n in api.attempts.values())
    # ... the refused rows are in the DLQ with their status and the API's answer
    (dead,) = dead_letters(session, stack)
    assert [row[0] for row in dead["rows"]] == [7, 14]
    assert dead["failures"]["7"]["status"] == 400
    assert "multiple of seven" in dead["failures"]["7"]["excerpt"]
    # ... and the job counts them as failed
    current = job(session, stack)
    assert (current.rows_posted, current.rows_failed, current.state) == (
        18,
        2,
        "done_with_failures",
    )


def test_retryable_failures_are_reported_then_dead_lettered_on_the_last_delivery(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    api.decide = lambda call: Reply(500) if call.payload["id"] == "3" else Reply()
    received = setup_job(session, stack, [message(1, 1, 5)])
    # WHEN row 3 keeps failing with 500 on the first delivery
    first = invoke(session, stack, received)
    # THEN the message is reported, its other rows are settled, and row 3 was tried AttemptLimit times
    assert first == {"batchItemFailures": [{"itemIdentifier": received[0]["MessageId"]}]}
    assert api.attempts[f"{JOB}:3"] == 3
    assert job(session, stack).rows_posted == 4
    # WHEN it comes back for the last allowed delivery (the fixture's MaxReceiveCount is 2)
    deadline = time.monotonic() + 30
    again: list[Any] = []
    while not again and time.monotonic() < deadline:
        time.sleep(0.2)  # the worker backed off the redelivery by a couple of seconds
        again = receive_all(session, stack.outputs["WorkQueueUrl"], visibility=30)
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert invoke(session, stack, again) == {"batchItemFailures": []}
    # THEN only row 3 was posted again, and it is in the DLQ with its last status
    assert api.attempts[f"{JOB}:3"] == 6
    assert all(api.attempts[f"{JOB}:{n}"] == 1 for n in (1, 2, 4, 5))
    (dead,) = dead_letters(session, stack)
    assert [row[0] for row in dead["rows"]] == [3]
    assert dead["failures"]["3"]["status"] == 500
    current = job(session, stack)
    assert (current.rows_posted, current.rows_failed) == (4, 1)


def test_the_api_credential_comes_from_secrets_manager_and_is_never_exposed(
    session: boto3.Session, api: DemoApi, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN an API that refuses calls without its credential, and the credential in Secrets Manager
    credential = "Bearer fanout-test-credential-7f3a"
    secret = session.client("secretsmanager").create_secret(Name="fanout-api", SecretString=credential)

    def require_credential(call: Call) -> Reply:
        if call.headers.get("Authorization") != credential:
            return Reply(401, body=b'{"error":"unauthorized"}')
        return Reply()

    api.decide = require_credential
    stack = local_stack(session, {"ApiUrl": api.url, "ApiAuthSecretArn": secret["ARN"]}, create=True)
    received = setup_job(session, stack, [message(1, 1, 12)])
    # WHEN the worker built from the stack's environment handles the rows
    caplog.set_level(logging.DEBUG, logger="fanout")
    response = invoke(session, stack, received)
    # THEN every row was accepted with the credential, which is in neither the environment nor the logs
    assert response == {"batchItemFailures": []}
    assert len(api.successes) == 12
    environment = stack.functions["WorkerFunction"].environment
    assert environment["API_AUTH_SECRET_ARN"] == secret["ARN"]
    assert credential not in json.dumps(environment)
    assert "fanout-test-credential" not in caplog.text


def test_without_a_secret_no_authorization_header_is_sent(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    headers: list[dict[str, str]] = []

    def record(call: Call) -> Reply:
        headers.append(call.headers)
        return Reply()

    api.decide = record
    invoke(session, stack, setup_job(session, stack, [message(1, 1, 3)]))
    assert len(headers) == 3
    assert not any("Authorization" in h for h in headers)


def test_what_a_cold_start_builds_is_kept_out_of_full_collections(
    stack: LocalStack, session: boto3.Session
) -> None:
    gc.unfreeze()
    try:
        # WHEN the worker is built (a cold start)
        build(stack.functions["WorkerFunction"].environment, session=session)
        # THEN its clients and their service models are in the permanent generation
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def test_a_stalled_call_is_handed_back_and_its_row_posted_once_on_the_next_delivery(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    # GIVEN an API that answers at once but holds row 7's first call until the test lets it go,
    # far past the worker's call timeout (the template's 10 s)
    released = threading.Event()

    def stall_row_7(call: Call) -> Reply:
        if call.payload["id"] == "7" and call.attempt == 1:
            released.wait(60)
        return Reply()

    api.decide = stall_row_7
    received = setup_job(session, stack, [message(1, 1, 40), message(2, 41, 40)])
    # WHEN one invocation posts both messages
    first = invoke(session, stack, received)
    # THEN it settled the 79 rows that were answered while row 7's call was still held: the
    # message with row 7 goes back for another delivery, its call ended, not waited out
    stalled = not released.is_set()
    released.set()
    assert stalled
    assert first == {"batchItemFailures": [{"itemIdentifier": received[0]["MessageId"]}]}
    assert job(session, stack).rows_posted == 79
    assert f"{JOB}:7" not in api.successes
    # AND the held call's late answer goes to no one
    deadline = time.monotonic() + 10
    while not api.abandoned and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.abandoned == 1
    # WHEN the message comes back
    again = invoke(session, stack, received[:1])
    # THEN row 7 is posted once, with its Idempotency-Key, and nothing else again
    assert again == {"batchItemFailures": []}
    assert api.attempts[f"{JOB}:7"] == 2
    assert set(api.successes.values()) == {1} and len(api.successes) == 80
    assert job(session, stack).rows_posted == 80


def test_with_a_budget_an_invocation_counts_its_rows_in_the_fleet_while_it_posts(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    # GIVEN a budget of calls a second, and an API that looks at the fleet's item as rows arrive
    seen: list[set[int]] = []
    dynamodb = session.client("dynamodb")

    def look(call: Call) -> Reply:
        if call.key.endswith(":30") and not seen:
            item = dynamodb.get_item(
                TableName=stack.outputs["LedgerTableName"], Key={"message": {"S": "#fleet"}}
            ).get("Item", {})
            seen.append({int(value["N"]) for name, value in item.items() if name.startswith("n")})
        return Reply()

    api.decide = look
    received = setup_job(session, stack, [message(1, 1, 30), message(2, 31, 30), message(3, 61, 5)])
    # WHEN one worker invocation posts the three messages' 65 rows
    assert invoke(session, stack, received, MAX_CALLS_PER_SECOND="30000") == {"batchItemFailures": []}
    # THEN while it posted, its environment was counted as 65 members: a share for each row
    assert seen and 65 in seen[0]
    assert sorted(api.successes) == sorted(f"{JOB}:{n}" for n in range(1, 66))
