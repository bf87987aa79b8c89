"""`--stack NAME` finds a deployed stack's resources from its CloudFormation outputs.

The emulator stands in for AWS: a CloudFormation stack whose outputs name the local stack's
resources, as a deployed template.yaml's outputs name its own.
"""

from __future__ import annotations

import argparse
import json

import boto3
import pytest

from fanout.errors import InputError
from fanout.jobs import JobStore
from infra.cli import status
from infra.local.stack import LocalStack
from infra.local.template import load_template
from infra.ops.stack_ref import connect


def deploy_outputs(session: boto3.Session, name: str, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    session.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


def test_every_template_output_is_found_by_stack_name(session: boto3.Session, stack: LocalStack) -> None:
    # GIVEN a stack whose outputs are the template's outputs
    deploy_outputs(session, "fanout-prod", stack.outputs)
    # WHEN a command connects with --stack
    connection = connect(argparse.Namespace(stack="fanout-prod", region="us-east-1", endpoint_url=None))
    # THEN it knows every output the template declares (those whose condition holds)
    assert connection.outputs == stack.outputs
    assert set(connection.outputs) >= set(load_template()["Outputs"]) - {"AlarmTopicArn"}
    assert connection.where == "stack fanout-prod"


def test_status_reads_jobs_through_the_stack_outputs(
    session: boto3.Session, stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"]).create(
        "customers-1", "bucket", "incoming/customers.csv", "v1"
    )
    deploy_outputs(session, "fanout-prod", stack.outputs)
    args = argparse.Namespace(stack="fanout-prod", region="us-east-1", endpoint_url=None, job=None)
    assert status.execute(args) == 0
    assert "customers-1" in capsys.readouterr().out


def test_a_missing_stack_is_an_input_error_naming_it(session: boto3.Session) -> None:
    with pytest.raises(InputError, match="stack nowhere"):
        connect(argparse.Namespace(stack="nowhere", region="us-east-1", endpoint_url=None))
