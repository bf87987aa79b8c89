"""The local stack made from template.yaml has the template's queues, attributes and settings."""

import json
from urllib.parse import unquote_plus

import boto3

from infra.demo.api import DemoApi
from infra.local.stack import LocalStack, local_stack
from infra.local.template import load_template


def test_queues_carry_the_template_attributes(session: boto3.Session, stack: LocalStack) -> None:
    sqs = session.client("sqs")
    work = sqs.get_queue_attributes(QueueUrl=stack.outputs["WorkQueueUrl"], AttributeNames=["All"])[
        "Attributes"
    ]
    template = load_template()["Resources"]["WorkQueue"]["Properties"]
    assert work["VisibilityTimeout"] == str(template["VisibilityTimeout"])
    assert work["MaximumMessageSize"] == str(template["MaximumMessageSize"])
    redrive = json.loads(work["RedrivePolicy"])
    assert redrive["maxReceiveCount"] in (2, "2")  # the fixture's MaxReceiveCount
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=stack.outputs["DeadLetterQueueUrl"], AttributeNames=["QueueArn"]
    )
    assert redrive["deadLetterTargetArn"] == dlq_arn["Attributes"]["QueueArn"]


def test_every_queue_has_the_attributes_the_template_declares(
    session: boto3.Session, stack: LocalStack
) -> None:
    sqs = session.client("sqs")
    queues = {
        lid: spec["Properties"]
        for lid, spec in load_template()["Resources"].items()
        if spec["Type"] == "AWS::SQS::Queue"
    }
    assert len(queues) == 5
    for logical_id, declared in queues.items():
        url = stack.outputs[f"{logical_id}Url"]
        actual = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        for name in ("VisibilityTimeout", "MessageRetentionPeriod", "MaximumMessageSize"):
            if name in declared:
                assert actual[name] == str(declared[name]), (logical_id, name)
        assert actual["SqsManagedSseEnabled"] == "true", logical_id
    intake = json.loads(
        sqs.get_queue_attributes(QueueUrl=stack.outputs["IntakeQueueUrl"], AttributeNames=["RedrivePolicy"])[
            "Attributes"
        ]["RedrivePolicy"]
    )
    assert intake["maxReceiveCount"] in (3, "3")


def test_functions_get_the_template_environment_and_triggers(stack: LocalStack) -> None:
    worker = stack.functions["WorkerFunction"]
    assert worker.handler == "worker.handler.lambda_handler"
    assert worker.reserved_concurrency == 300
    assert worker.environment["THREADS"] == "8"
    assert worker.environment["DLQ_URL"] == stack.outputs["DeadLetterQueueUrl"]
    assert worker.environment["POWERTOOLS_SERVICE_NAME"] == "fanout-local"  # Globals: the stack name
    (trigger,) = worker.triggers
    assert trigger.queue_url == stack.outputs["WorkQueueUrl"]
    assert trigger.batch_size == 10
    assert trigger.max_concurrency == 300
    splitter = stack.functions["SplitterFunction"]
    assert splitter.triggers[0].queue_url == stack.outputs["IntakeQueueUrl"]


def test_a_drop_into_incoming_reaches_the_intake_queue(session: boto3.Session, stack: LocalStack) -> None:
    s3, sqs = session.client("s3"), session.client("sqs")
    bucket = stack.outputs["DataBucketName"]
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"x\n1\n")
    s3.put_object(Bucket=bucket, Key="elsewhere/b.csv", Body=b"x\n1\n")
    s3.put_object(Bucket=bucket, Key="incoming/c.txt", Body=b"x\n1\n")
    messages = sqs.receive_message(QueueUrl=stack.outputs["IntakeQueueUrl"], MaxNumberOfMessages=10)[
        "Messages"
    ]
    keys = [
        unquote_plus(r["s3"]["object"]["key"])
        for m in messages
        for r in json.loads(m["Body"]).get("Records", [])
    ]
    assert keys == ["incoming/a.csv"]


def test_resources_and_outputs_whose_condition_is_false_are_left_out(stack: LocalStack) -> None:
    # GIVEN the template's defaults: no alarm e-mail, no API secret
    # THEN the local stack has no alarm topic output and the worker's secret setting is empty
    assert "AlarmTopicArn" not in stack.outputs
    assert stack.outputs["WorkerFunctionName"] == "fanout-local-worker"
    assert stack.functions["WorkerFunction"].environment["API_AUTH_SECRET_ARN"] == ""


def test_an_alarm_email_adds_the_topic_output(session: boto3.Session, api: DemoApi) -> None:
    stack = local_stack(session, {"ApiUrl": api.url, "AlarmEmail": "ops@example.com"}, create=True)
    assert "AlarmTopicArn" in stack.outputs  # SNS is not emulated: a stand-in name
