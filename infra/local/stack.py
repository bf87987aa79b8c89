"""The resources template.yaml declares, created on the emulator, and the functions to run there."""

from __future__ import annotations

import importlib
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fanout.errors import ConfigError
from infra.local.template import Resolver, load_template, parameter_values

if TYPE_CHECKING:
    import boto3

log = logging.getLogger("fanout.local")

LOCAL_STACK_NAME = "fanout-local"
LOCAL_ACCOUNT = "123456789012"  # moto's default account
LOCAL_REGION = "us-east-1"
LOCAL_STACK_ID = (
    f"arn:aws:cloudformation:{LOCAL_REGION}:{LOCAL_ACCOUNT}:stack/{LOCAL_STACK_NAME}/"
    "0f5a8c1e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
)
# The services the local stack is made with, and its runtime and a run call.
# The GIL's switch interval while the handlers' modules import beside the stack's creation.
IMPORTS_SWITCH_S = 0.0005
LOCAL_STACK_SERVICES = ("sqs", "s3", "dynamodb", "cloudwatch", "iam", "lambda", "secretsmanager")

# Alarm properties that say what it watches (its actions notify a topic only AWS has).
_ALARM_PROPERTIES = (
    "AlarmName",
    "AlarmDescription",
    "Namespace",
    "MetricName",
    "Dimensions",
    "Statistic",
    "Period",
    "EvaluationPeriods",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
)

# Queue properties that are SQS attributes of the same name.
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "SqsManagedSseEnabled",
)


@dataclass(frozen=True)
class SqsTrigger:
    queue_url: str
    queue_arn: str
    batch_size: int
    batching_window_s: float
    max_concurrency: int | None

    @property
    def queue_name(self) -> str:
        return self.queue_arn.rsplit(":", 1)[-1]


@dataclass(frozen=True)
class LocalFunction:
    logical_id: str
    name: str
    handler: str
    timeout_s: float
    memory_mb: int
    environment: dict[str, str]
    reserved_concurrency: int | None
    triggers: tuple[SqsTrigger, ...]


@dataclass
class LocalStack:
    """What the template made: physical names, the stack's outputs, and its functions."""

    parameters: dict[str, str]
    outputs: dict[str, str] = field(default_factory=dict)
    functions: dict[str, LocalFunction] = field(default_factory=dict)
    # The Lambda API's event source mapping id of each (function, queue ARN), where registered.
    mappings: dict[tuple[str, str], str] = field(default_factory=dict)
    # Each queue's URL by its name.
    queues: dict[str, str] = field(default_factory=dict)
    # Each AWS::CloudWatch::Dashboard's body, resolved (JSON text), by its name.
    dashboards: dict[str, str] = field(default_factory=dict)


def _pseudo() -> dict[str, str]:
    return {
        "AWS::StackName": LOCAL_STACK_NAME,
        "AWS::StackId": LOCAL_STACK_ID,
        "AWS::AccountId": LOCAL_ACCOUNT,
        "AWS::Region": LOCAL_REGION,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }


class _Builder:
    def __init__(self, session: boto3.Session, resolver: Resolver, create: bool) -> None:
        self._sqs = session.client("sqs")
        self._s3 = session.client("s3")
        self._dynamodb = session.client("dynamodb")
        self._cloudwatch = session.client("cloudwatch")
        self._resolver = resolver
        self._create = create

    def build(self, logical_id: str, kind: str, properties: dict[str, Any]) -> None:
        if kind == "AWS::SQS::Queue":
            self._queue(logical_id, self._resolver.resolve(properties))
        elif kind == "AWS::DynamoDB::Table":
            self._table(logical_id, self._resolver.resolve(properties))
        elif kind == "AWS::S3::Bucket":
            self._bucket(logical_id, self._resolver.resolve(properties))
        elif kind == "AWS::CloudWatch::Alarm":
            self._alarm(logical_id, properties)
        elif kind == "AWS::Serverless::Function":
            # Its name now, for what refers to it (alarms); the rest is read by _functions.
            self._resolver.refs[logical_id] = str(
                self._resolver.resolve(properties.get("FunctionName", logical_id))
            )
        else:
            # Not emulated locally (roles, log groups, policies, alarms): a name and an ARN, so
            # references to it resolve.
            self._resolver.refs[logical_id] = self._name(logical_id)
            self._resolver.attributes[(logical_id, "Arn")] = (
                f"arn:aws:local:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{self._name(logical_id)}"
            )

    def _alarm(self, logical_id: str, properties: dict[str, Any]) -> None:
        """The alarm on its metric, so the dashboard's alarm widget finds it (actions stay on AWS)."""
        props = self._resolver.resolve({k: v for k, v in properties.items() if k in _ALARM_PROPERTIES})
        name = str(props.pop("AlarmName", self._name(logical_id)))
        for number in ("Period", "EvaluationPeriods"):
            props[number] = int(props[number])
        props["Threshold"] = float(props["Threshold"])  # parameters resolve to text
        if self._create:
            self._cloudwatch.put_metric_alarm(AlarmName=name, **props)
        self._resolver.refs[logical_id] = name
        self._resolver.attributes[(logical_id, "Arn")] = (
            f"arn:aws:cloudwatch:{LOCAL_REGION}:{LOCAL_ACCOUNT}:alarm:{name}"
        )

    def _name(self, logical_id: str) -> str:
        return f"{LOCAL_STACK_NAME}-{logical_id}"

    def _queue(self, logical_id: str, props: dict[str, Any]) -> None:
        name = self._name(logical_id)
        attributes = {k: _attribute(props[k]) for k in _QUEUE_ATTRIBUTES if k in props}
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        if self._create:
            url = self._sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]
        else:
            url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
        self._resolver.refs[logical_id] = url
        self._resolver.attributes[(logical_id, "Arn")] = f"arn:aws:sqs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{name}"
        self._resolver.attributes[(logical_id, "QueueName")] = name
        self._resolver.attributes[(logical_id, "QueueUrl")] = url

    def _table(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("TableName") or self._name(logical_id)
        if self._create:
            self._dynamodb.create_table(
                TableName=name,
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
            )
        self._resolver.refs[logical_id] = name
        self._resolver.attributes[(logical_id, "Arn")] = (
            f"arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT}:table/{name}"
        )

    def _bucket(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("BucketName") or self._name(logical_id).lower()
        if self._create:
            self._s3.create_bucket(Bucket=name)
            if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
                self._s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            notifications = props.get("NotificationConfiguration", {}).get("QueueConfigurations", [])
            if notifications:
                self._s3.put_bucket_notification_configuration(
                    Bucket=name,
                    NotificationConfiguration={
                        "QueueConfigurations": [_queue_notification(n) for n in notifications]
                    },
                )
        self._resolver.refs[logical_id] = name
        self._resolver.attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"


def _attribute(value: Any) -> str:
    """A template value as SQS spells attributes: booleans in lower case."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _queue_notification(spec: Mapping[str, Any]) -> Any:
    rules = spec.get("Filter", {}).get("S3Key", {}).get("Rules", [])
    return {
        "QueueArn": spec["Queue"],
        "Events": [spec["Event"]],
        "Filter": {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}},
    }


def _exists(resolver: Resolver, declaration: Mapping[str, Any]) -> bool:
    """Whether a resource or output is part of the stack: it has no Condition, or a true one."""
    return "Condition" not in declaration or resolver.holds(declaration["Condition"])


def _build_all(builder: _Builder, resolver: Resolver, resources: Mapping[str, Any]) -> None:
    """Creates resources in an order that satisfies their references to each other."""
    waiting = {lid: spec for lid, spec in resources.items() if _exists(resolver, spec)}
    while waiting:
        progressed = False
        for logical_id, spec in list(waiting.items()):
            try:
                builder.build(logical_id, spec["Type"], spec.get("Properties", {}))
            except ConfigError:
                continue  # it refers to something not built yet
            del waiting[logical_id]
            progressed = True
        if not progressed:
            raise ConfigError(f"template: cannot resolve {', '.join(sorted(waiting))}")


def _functions(template: Mapping[str, Any], resolver: Resolver) -> dict[str, LocalFunction]:
    globals_ = template.get("Globals", {}).get("Function", {})
    arns_to_urls = {
        resolver.attributes[(lid, "Arn")]: resolver.refs[lid]
        for lid, spec in template["Resources"].items()
        if spec["Type"] == "AWS::SQS::Queue" and _exists(resolver, spec)
    }
    functions = {}
    for logical_id, spec in template["Resources"].items():
        if spec["Type"] != "AWS::Serverless::Function" or not _exists(resolver, spec):
            continue
        props = resolver.resolve({**globals_, **spec["Properties"]})
        environment = {
            **resolver.resolve(globals_.get("Environment", {}).get("Variables", {})),
            **props.get("Environment", {}).get("Variables", {}),
        }
        triggers = []
        for event in props.get("Events", {}).values():
            if event["Type"] != "SQS":
                continue
            ev = event["Properties"]
            triggers.append(
                SqsTrigger(
                    queue_url=arns_to_urls[ev["Queue"]],
                    queue_arn=ev["Queue"],
                    batch_size=int(ev.get("BatchSize", 10)),
                    batching_window_s=float(ev.get("MaximumBatchingWindowInSeconds", 0)),
                    max_concurrency=int(ev["ScalingConfig"]["MaximumConcurrency"])
                    if "ScalingConfig" in ev
                    else None,
                )
            )
        reserved = props.get("ReservedConcurrentExecutions")
        name = str(props.get("FunctionName", logical_id))
        functions[logical_id] = LocalFunction(
            logical_id=logical_id,
            name=name,
            handler=props["Handler"],
            timeout_s=float(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            environment={k: str(v) for k, v in environment.items()},
            reserved_concurrency=int(reserved) if reserved is not None else None,
            triggers=tuple(triggers),
        )
        resolver.refs[logical_id] = name
    return functions


def _dashboards(
    session: boto3.Session, template: Mapping[str, Any], resolver: Resolver, create: bool
) -> dict[str, str]:
    """The template's dashboards, put into the emulator's CloudWatch once the functions have names."""
    dashboards = {}
    for logical_id, spec in template["Resources"].items():
        if spec["Type"] != "AWS::CloudWatch::Dashboard":
            continue
        props = resolver.resolve(spec["Properties"])
        name = str(props.get("DashboardName") or f"{LOCAL_STACK_NAME}-{logical_id}")
        dashboards[name] = str(props["DashboardBody"])
        resolver.refs[logical_id] = name
        if create:
            session.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=dashboards[name])
    return dashboards


def local_stack(session: boto3.Session, overrides: Mapping[str, str], create: bool) -> LocalStack:
    """The template's stack on the emulator the session points at; `create` makes the resources."""
    template = load_template()
    parameters = parameter_values(template, overrides, strict=create)
    resolver = Resolver(parameters=parameters, pseudo=_pseudo(), conditions=template.get("Conditions", {}))
    _build_all(_Builder(session, resolver, create), resolver, template["Resources"])
    stack = LocalStack(parameters=parameters)
    stack.functions = _functions(template, resolver)
    if create:
        stack.mappings = register_functions(session, stack.functions)
    stack.queues = {
        resolver.attributes[(logical_id, "QueueName")]: resolver.refs[logical_id]
        for logical_id, spec in template["Resources"].items()
        if spec["Type"] == "AWS::SQS::Queue"
    }
    stack.dashboards = _dashboards(session, template, resolver, create)
    stack.outputs = {
        name: str(resolver.resolve(spec["Value"]))
        for name, spec in template.get("Outputs", {}).items()
        if _exists(resolver, spec)
    }
    return stack


@contextmanager
def handlers_importing() -> Iterator[None]:
    """The functions' handler modules import on a thread while the block runs (the emulator's
    boot and the stack's creation, where this process mostly waits on the emulator).

    The imports are 0.4 s of CPU here (the handlers' libraries) that the local runtime's start
    would do after the stack. The thread has ended when the block does: worker processes are
    forked only from a process with one thread.
    """
    switch_s = sys.getswitchinterval()
    # The imports hold the GIL for long stretches; at the default interval (5 ms) the block's
    # thread waited for it after each answer, and the emulator for the next call (the stack's
    # creation 0.2 s slower).
    sys.setswitchinterval(IMPORTS_SWITCH_S)
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="handler-imports") as pool:
            imported = pool.submit(import_handler_modules, load_template())
            yield
            imported.result()  # an import that failed raises here, as at the runtime's start
    finally:
        sys.setswitchinterval(switch_s)


def import_handler_modules(template: Mapping[str, Any]) -> None:
    """Imports the module of every function's Lambda handler the template declares."""
    default = template.get("Globals", {}).get("Function", {}).get("Handler")
    for spec in template["Resources"].values():
        handler = spec.get("Properties", {}).get("Handler", default)
        if spec["Type"] == "AWS::Serverless::Function" and isinstance(handler, str):
            importlib.import_module(handler.rsplit(".", 1)[0])


# A stand-in deployment package: the emulator keeps the function's configuration; the local
# runtime runs the code from this checkout.
_PLACEHOLDER_ZIP = (
    b"PK\x05\x06" + b"\x00" * 18  # an empty zip archive
)


def register_functions(
    session: boto3.Session, functions: dict[str, LocalFunction]
) -> dict[tuple[str, str], str]:
    """The functions and their SQS event source mappings in the emulator's Lambda API.

    Only configuration: `fanout pause`, `resume` and `throttle` change the mappings there, as on
    AWS, and the local event source mappings follow what they say.
    """
    iam, lam = session.client("iam"), session.client("lambda")
    role = iam.create_role(
        RoleName=f"{LOCAL_STACK_NAME}-functions",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    mappings = {}
    for function in functions.values():
        lam.create_function(
            FunctionName=function.name,
            Runtime="python3.11",
            Role=role,
            Handler=function.handler,
            Code={"ZipFile": _PLACEHOLDER_ZIP},
            Timeout=int(function.timeout_s),
        )
        for trigger in function.triggers:
            spec: dict[str, Any] = {"BatchSize": trigger.batch_size, "Enabled": True}
            if trigger.max_concurrency:
                spec["ScalingConfig"] = {"MaximumConcurrency": trigger.max_concurrency}
            mapping = lam.create_event_source_mapping(
                EventSourceArn=trigger.queue_arn, FunctionName=function.name, **spec
            )
            mappings[(function.logical_id, trigger.queue_arn)] = mapping["UUID"]
    return mappings
