"""template.yaml as CloudFormation receives it: transformed by the SAM translator, offline.

These assert what a deployed stack promises: the concurrency cap, partial batch responses, the
redrive policy, timeouts that fit together, the drop trigger, encryption, least-privilege IAM,
the API credential read at run time, the alarms, and the outputs the CLI reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from fanout.limits import SQS_VISIBILITY_TO_FUNCTION_TIMEOUT_RATIO
from infra.local.template import load_template

# What `sam package` puts in place of the local code directory; the translator wants an S3 URI.
PACKAGED_CODE = "s3://fanout-artifacts/fanout.zip"
# The outputs `fanout ... --stack NAME` reads.
CLI_OUTPUTS = {
    "DataBucketName",
    "IntakeQueueUrl",
    "WorkQueueUrl",
    "DeadLetterQueueUrl",
    "JobsTableName",
    "LedgerTableName",
}


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    template = load_template()
    for spec in template["Resources"].values():
        if spec["Type"] == "AWS::Serverless::Function":
            spec["Properties"]["CodeUri"] = PACKAGED_CODE
    # A region is all the translator needs from the session; it makes no calls.
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name="us-east-1"))
    transformed: dict[str, Any] = translator.translate(
        template, parameter_values={}, get_managed_policy_map=dict
    )
    return transformed


def of_type(cfn: dict[str, Any], kind: str) -> dict[str, Any]:
    return {lid: spec for lid, spec in cfn["Resources"].items() if spec["Type"] == kind}


def props(cfn: dict[str, Any], logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = cfn["Resources"][logical_id]["Properties"]
    return properties


def mapping_of(cfn: dict[str, Any], function: str) -> dict[str, Any]:
    (mapping,) = (
        spec["Properties"]
        for spec in of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
        if spec["Properties"]["FunctionName"] == {"Ref": function}
    )
    return mapping


def branches(value: Any) -> Iterator[Any]:
    """A value, or both sides of an Fn::If, without AWS::NoValue."""
    if isinstance(value, dict) and "Fn::If" in value:
        for side in value["Fn::If"][1:]:
            yield from branches(side)
    elif value != {"Ref": "AWS::NoValue"}:
        yield value


def allow_statements(cfn: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for role_id, role in of_type(cfn, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for document in branches(policy):
                for statement in document["PolicyDocument"]["Statement"]:
                    if statement["Effect"] == "Allow":
                        yield role_id, statement


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_worker_runs_at_most_300_at_once_and_the_mapping_stays_within_that(
    sam: dict[str, Any], cfn: dict[str, Any]
) -> None:
    worker = props(cfn, "WorkerFunction")
    assert worker["ReservedConcurrentExecutions"] == {"Ref": "WorkerReservedConcurrency"}
    assert sam["Parameters"]["WorkerReservedConcurrency"]["Default"] == 300
    scaling = mapping_of(cfn, "WorkerFunction")["ScalingConfig"]
    assert scaling["MaximumConcurrency"] == worker["ReservedConcurrentExecutions"]


def test_both_mappings_report_partial_batch_failures(cfn: dict[str, Any]) -> None:
    for function in ("SplitterFunction", "WorkerFunction"):
        assert mapping_of(cfn, function)["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_queues_redrive_to_their_dead_letter_queues(cfn: dict[str, Any]) -> None:
    work = props(cfn, "WorkQueue")["RedrivePolicy"]
    assert work == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }
    intake = props(cfn, "IntakeQueue")["RedrivePolicy"]
    assert intake["deadLetterTargetArn"] == {"Fn::GetAtt": ["IntakeDeadLetterQueue", "Arn"]}


def test_visibility_timeouts_are_at_least_six_times_the_timeout_of_the_function_reading_them(
    cfn: dict[str, Any],
) -> None:
    mappings = of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
    assert len(mappings) == 2
    for mapping in mappings:
        queue = mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
        function = mapping["Properties"]["FunctionName"]["Ref"]
        visibility = props(cfn, queue)["VisibilityTimeout"]
        timeout = props(cfn, function)["Timeout"]
        assert visibility >= SQS_VISIBILITY_TO_FUNCTION_TIMEOUT_RATIO * timeout, (queue, function)


def test_only_csv_files_under_incoming_start_a_job(cfn: dict[str, Any]) -> None:
    notifications = props(cfn, "DataBucket")["NotificationConfiguration"]["QueueConfigurations"]
    assert {n["Event"] for n in notifications} == {"s3:ObjectCreated:*"}
    assert [n["Queue"] for n in notifications] == [{"Fn::GetAtt": ["IntakeQueue", "Arn"]}] * 2
    rules = [{r["Name"]: r["Value"] for r in n["Filter"]["S3Key"]["Rules"]} for n in notifications]
    assert rules == [{"prefix": "incoming/", "suffix": ".csv"}, {"prefix": "incoming/", "suffix": ".csv.gz"}]
    assert mapping_of(cfn, "SplitterFunction")["EventSourceArn"] == {"Fn::GetAtt": ["IntakeQueue", "Arn"]}


def test_data_is_encrypted_at_rest_and_the_bucket_is_private_and_tls_only(cfn: dict[str, Any]) -> None:
    bucket = props(cfn, "DataBucket")
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    policy = props(cfn, "DataBucketPolicy")["PolicyDocument"]["Statement"]
    assert {"Bool": {"aws:SecureTransport": "false"}} in [
        s["Condition"] for s in policy if s["Effect"] == "Deny" and s["Principal"] == "*"
    ]
    queues = of_type(cfn, "AWS::SQS::Queue")
    assert len(queues) == 5
    for queue_id, queue in queues.items():
        assert queue["Properties"].get("SqsManagedSseEnabled") or "KmsMasterKeyId" in queue["Properties"], (
            queue_id
        )
    tables = of_type(cfn, "AWS::DynamoDB::Table")
    assert len(tables) == 2
    for table in tables.values():
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True


def test_iam_grants_named_actions_on_named_resources_only(cfn: dict[str, Any]) -> None:
    roles = of_type(cfn, "AWS::IAM::Role")
    # Only the two roles the template declares: no role generated with AWS managed policies.
    assert set(roles) == {"SplitterRole", "WorkerRole"}
    for role in roles.values():
        assert "ManagedPolicyArns" not in role["Properties"]
    assert of_type(cfn, "AWS::IAM::Policy") == {}
    statements = list(allow_statements(cfn))
    assert len(statements) >= 10
    for role_id, statement in statements:
        for action in as_list(statement["Action"]):
            assert "*" not in action, (role_id, action)
        for resource in as_list(statement["Resource"]):
            assert resource != "*", (role_id, statement)
    for function, role in (("SplitterFunction", "SplitterRole"), ("WorkerFunction", "WorkerRole")):
        assert props(cfn, function)["Role"] == {"Fn::GetAtt": [role, "Arn"]}


def test_each_function_may_write_only_its_own_log_group(cfn: dict[str, Any]) -> None:
    for function, role, group in (
        ("SplitterFunction", "SplitterRole", "SplitterLogGroup"),
        ("WorkerFunction", "WorkerRole", "WorkerLogGroup"),
    ):
        assert props(cfn, function)["LoggingConfig"]["LogGroup"] == {"Ref": group}
        assert "RetentionInDays" in props(cfn, group)
        logging = [s for r, s in allow_statements(cfn) if r == role and s["Sid"] == "Logs"]
        assert [s["Resource"] for s in logging] == [{"Fn::GetAtt": [group, "Arn"]}]


def conditional_policy(cfn: dict[str, Any], condition: str) -> dict[str, Any]:
    """The worker role's policy that exists only when `condition` holds."""
    (optional,) = [
        p["Fn::If"]
        for p in props(cfn, "WorkerRole")["Policies"]
        if "Fn::If" in p and p["Fn::If"][0] == condition
    ]
    _, policy, otherwise = optional
    assert otherwise == {"Ref": "AWS::NoValue"}
    document: dict[str, Any] = policy["PolicyDocument"]
    return document


def test_the_api_credential_is_read_at_run_time_from_the_secret_it_names(cfn: dict[str, Any]) -> None:
    environment = props(cfn, "WorkerFunction")["Environment"]["Variables"]
    assert environment["API_AUTH_SECRET_ARN"] == {"Ref": "ApiAuthSecretArn"}
    (statement,) = conditional_policy(cfn, "HasApiAuthSecret")["Statement"]
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    assert statement["Resource"] == {"Ref": "ApiAuthSecretArn"}
    readers = {r for r, s in allow_statements(cfn) if "secretsmanager" in str(s["Action"])}
    assert readers == {"WorkerRole"}


def test_the_worker_may_read_only_the_secrets_under_the_stack_s_own_prefix(cfn: dict[str, Any]) -> None:
    # The request spec names secrets; the worker finds them under SECRETS_PREFIX, which is the
    # prefix its role may read, with nothing but Secrets Manager's ARN suffix beyond it.
    environment = props(cfn, "WorkerFunction")["Environment"]["Variables"]
    assert environment["SECRETS_PREFIX"] == {"Fn::Sub": "${AWS::StackName}/"}
    (statement,) = [s for r, s in allow_statements(cfn) if s.get("Sid") == "ReadSpecSecrets"]
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    prefix = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
    assert statement["Resource"] == {"Fn::Sub": prefix + "${AWS::StackName}/*"}
    every_secret_grant = [
        s["Resource"] for _, s in allow_statements(cfn) if "secretsmanager" in str(s["Action"])
    ]
    assert every_secret_grant == [statement["Resource"], {"Ref": "ApiAuthSecretArn"}]


def test_execute_api_invoke_is_granted_on_the_named_arn_only_when_it_is_set(cfn: dict[str, Any]) -> None:
    assert cfn["Conditions"]["HasApiInvokeArn"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ApiInvokeArn"}, ""]}]
    }
    (statement,) = conditional_policy(cfn, "HasApiInvokeArn")["Statement"]
    assert (statement["Action"], statement["Resource"]) == ("execute-api:Invoke", {"Ref": "ApiInvokeArn"})
    invokers = [s for _, s in allow_statements(cfn) if "execute-api" in str(s["Action"])]
    assert invokers == [statement]


def test_alarms_watch_dead_letters_queue_age_and_worker_errors_and_throttles(cfn: dict[str, Any]) -> None:
    watched = {
        (a["Properties"]["MetricName"], str(a["Properties"]["Dimensions"][0]["Value"]))
        for a in of_type(cfn, "AWS::CloudWatch::Alarm").values()
    }
    assert {
        ("ApproximateNumberOfMessagesVisible", str({"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]})),
        ("ApproximateAgeOfOldestMessage", str({"Fn::GetAtt": ["WorkQueue", "QueueName"]})),
        ("Errors", str({"Ref": "WorkerFunction"})),
        ("Throttles", str({"Ref": "WorkerFunction"})),
    } <= watched


def test_alarms_notify_an_email_topic_only_when_an_address_is_given(cfn: dict[str, Any]) -> None:
    for kind in ("AWS::SNS::Topic", "AWS::SNS::Subscription"):
        (resource,) = of_type(cfn, kind).values()
        assert resource["Condition"] == "HasAlarmEmail"
    (subscription,) = of_type(cfn, "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    for alarm in of_type(cfn, "AWS::CloudWatch::Alarm").values():
        expected = {"Fn::If": ["HasAlarmEmail", [{"Ref": "AlarmTopic"}], {"Ref": "AWS::NoValue"}]}
        assert alarm["Properties"]["AlarmActions"] == expected


def test_outputs_hold_what_the_cli_and_a_user_need(cfn: dict[str, Any]) -> None:
    outputs = cfn["Outputs"]
    assert set(outputs) >= CLI_OUTPUTS | {"SplitterFunctionName", "WorkerFunctionName", "AlarmTopicArn"}
    assert outputs["AlarmTopicArn"]["Condition"] == "HasAlarmEmail"
    for output in outputs.values():
        assert output["Description"]
