import pytest

from fanout.errors import ConfigError
from fanout.limits import SQS_VISIBILITY_TO_FUNCTION_TIMEOUT_RATIO
from infra.template import Resolver, load_template, parameter_values


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
