import re

import pytest

from fanout.errors import ConfigError
from fanout.limits import SQS_VISIBILITY_TO_FUNCTION_TIMEOUT_RATIO
from infra.local.template import TEMPLATE_PATH, Resolver, load_template, parameter_values


def test_short_forms_become_intrinsic_functions() -> None:
    template = load_template()
    worker = template["Resources"]["WorkerFunction"]["Properties"]
    assert worker["ReservedConcurrentExecutions"] == {"Ref": "WorkerReservedConcurrency"}
    assert worker["Events"]["Work"]["Properties"]["Queue"] == {"Fn::GetAtt": ["WorkQueue", "Arn"]}


def test_resolver_evaluates_sub_select_split_join() -> None:
    resolver = Resolver(parameters={"P": "x"}, pseudo={"AWS::StackId": "arn:a/b/c-d"})
    resolver.refs["Q"] = "url"
    resolver.attributes[("Q", "Arn")] = "arn:q"
    assert resolver.resolve({"Fn::Sub": "${P}-${Q}-${Q.Arn}"}) == "x-url-arn:q"
    assert resolver.resolve({"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}) == "c-d"
    assert resolver.resolve({"Fn::Join": ["+", ["a", {"Ref": "P"}]]}) == "a+x"
    assert resolver.resolve({"Fn::Sub": ["${A}!", {"A": {"Ref": "P"}}]}) == "x!"
    with pytest.raises(ConfigError):
        resolver.resolve({"Ref": "Missing"})


def test_parameters_take_defaults_check_ranges_and_need_the_api_url() -> None:
    template = load_template()
    values = parameter_values(template, {"ApiUrl": "http://127.0.0.1:9/x"})
    assert values["WorkerReservedConcurrency"] == "300"
    with pytest.raises(ConfigError, match="ApiUrl"):
        parameter_values(template, {})
    with pytest.raises(ConfigError, match="below its minimum"):
        parameter_values(template, {"ApiUrl": "http://a", "ThreadsPerWorker": "0"})
    with pytest.raises(ConfigError, match="http"):
        parameter_values(template, {"ApiUrl": "ftp://a"})
    with pytest.raises(ConfigError, match="no parameter"):
        parameter_values(template, {"ApiUrl": "http://a", "Nope": "1"})


def test_visibility_timeouts_are_six_times_the_function_timeouts() -> None:
    resources = load_template()["Resources"]
    for function, queue in (("WorkerFunction", "WorkQueue"), ("SplitterFunction", "IntakeQueue")):
        timeout = resources[function]["Properties"]["Timeout"]
        visibility = resources[queue]["Properties"]["VisibilityTimeout"]
        assert visibility >= SQS_VISIBILITY_TO_FUNCTION_TIMEOUT_RATIO * timeout


def test_conditions_and_if_follow_the_parameters() -> None:
    conditions = {
        "HasSecret": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Secret"}, ""]}]},
        "HasBoth": {"Fn::And": [{"Condition": "HasSecret"}, {"Fn::Equals": [{"Ref": "Mail"}, "a@b.c"]}]},
        "HasEither": {"Fn::Or": [{"Condition": "HasSecret"}, {"Fn::Equals": [{"Ref": "Mail"}, "a@b.c"]}]},
    }
    without = Resolver(parameters={"Secret": "", "Mail": "a@b.c"}, pseudo={}, conditions=conditions)
    assert (without.holds("HasSecret"), without.holds("HasBoth"), without.holds("HasEither")) == (
        False,
        False,
        True,
    )
    with_secret = Resolver(parameters={"Secret": "arn:s", "Mail": "a@b.c"}, pseudo={}, conditions=conditions)
    assert with_secret.holds("HasBoth")
    choice = {"Fn::If": ["HasSecret", {"Ref": "Secret"}, "none"]}
    assert (without.resolve(choice), with_secret.resolve(choice)) == ("none", "arn:s")
    with pytest.raises(ConfigError, match="no condition"):
        without.holds("Missing")


def test_no_value_leaves_the_property_or_item_out() -> None:
    resolver = Resolver(parameters={"Secret": ""}, pseudo={}, conditions={"No": {"Fn::Equals": ["a", "b"]}})
    dropped = {"Fn::If": ["No", "kept", {"Ref": "AWS::NoValue"}]}
    assert resolver.resolve({"A": 1, "B": dropped}) == {"A": 1}
    assert resolver.resolve(["x", dropped]) == ["x"]


def test_template_conditions_follow_the_optional_parameters() -> None:
    template = load_template()
    defaults = parameter_values(template, {"ApiUrl": "http://127.0.0.1:9/x"})
    resolver = Resolver(parameters=defaults, pseudo={}, conditions=template["Conditions"])
    assert not resolver.holds("HasApiAuthSecret")
    assert not resolver.holds("HasApiInvokeArn")
    assert not resolver.holds("HasAlarmEmail")
    given = parameter_values(
        template,
        {
            "ApiUrl": "http://127.0.0.1:9/x",
            "ApiAuthSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:api-AbCdEf",
            "AlarmEmail": "ops@example.com",
            "ApiInvokeArn": "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/POST/*",
        },
    )
    resolver = Resolver(parameters=given, pseudo={}, conditions=template["Conditions"])
    assert resolver.holds("HasApiAuthSecret")
    assert resolver.holds("HasApiInvokeArn")
    assert resolver.holds("HasAlarmEmail")
    with pytest.raises(ConfigError, match="ApiAuthSecretArn"):
        parameter_values(template, {"ApiUrl": "http://a", "ApiAuthSecretArn": "my-secret"})
    with pytest.raises(ConfigError, match="AlarmEmail"):
        parameter_values(template, {"ApiUrl": "http://a", "AlarmEmail": "nobody"})
    for not_an_invoke_arn in ("*", "arn:aws:execute-api:us-east-1:123456789012:*", "arn:aws:s3:::b/x"):
        with pytest.raises(ConfigError, match="ApiInvokeArn"):
            parameter_values(template, {"ApiUrl": "http://a", "ApiInvokeArn": not_an_invoke_arn})


def test_the_readme_lists_every_parameter_with_its_template_default() -> None:
    readme = (TEMPLATE_PATH.parent / "README.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"^\| `(\w+)` \| ([^|]+?) \|", readme, flags=re.MULTILINE))
    expected = {
        name: "required" if "Default" not in spec else (str(spec["Default"]) or "empty")
        for name, spec in load_template()["Parameters"].items()
    }
    assert {name: listed.get(name) for name in expected} == expected
