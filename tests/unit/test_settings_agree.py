"""The functions' settings, the template and the CLI agree: one name, one range, one default each."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest

from fanout.errors import ConfigError
from fanout.settings import SplitterSettings, WorkerSettings
from infra.cli.flags import DEFAULT_THREADS
from infra.local.template import load_template

TEMPLATE = load_template()
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
# Wider than the parameter on purpose (fanout/settings.py says why).
WIDER_LOWER_BOUNDS = {("SplitterFunction", "WORKER_CONCURRENCY"): 1}
READERS: dict[str, Callable[[dict[str, str]], object]] = {
    "SplitterFunction": SplitterSettings.from_env,
    "WorkerFunction": WorkerSettings.from_env,
}


def _variables(function: str) -> dict[str, Any]:
    variables: dict[str, Any] = TEMPLATE["Resources"][function]["Properties"]["Environment"]["Variables"]
    return variables


def _environment(function: str) -> dict[str, str]:
    """The function's environment with every parameter at its default (ApiUrl made up)."""
    env = {}
    for name, value in _variables(function).items():
        ref = value.get("Ref") if isinstance(value, dict) else None
        if ref in PARAMETERS:
            env[name] = str(PARAMETERS[ref].get("Default", "https://api.example.com/rows"))
        else:
            env[name] = "resource-name"
    return {**env, "POWERTOOLS_METRICS_NAMESPACE": "Fanout", "POWERTOOLS_SERVICE_NAME": "fanout"}


def _bounded_numbers() -> list[tuple[str, str, str]]:
    return [
        (function, name, value["Ref"])
        for function in READERS
        for name, value in _variables(function).items()
        if isinstance(value, dict)
        and PARAMETERS.get(value.get("Ref"), {}).get("Type") == "Number"
        and "MinValue" in PARAMETERS[value["Ref"]]
    ]


def test_every_function_reads_its_template_environment_at_the_defaults() -> None:
    for function, read in READERS.items():
        read(_environment(function))


@pytest.mark.parametrize(("function", "variable", "parameter"), _bounded_numbers())
def test_a_setting_takes_exactly_its_parameters_range(function: str, variable: str, parameter: str) -> None:
    spec = PARAMETERS[parameter]
    low = WIDER_LOWER_BOUNDS.get((function, variable), int(spec["MinValue"]))
    high = int(spec["MaxValue"])
    read, env = READERS[function], _environment(function)
    for inside in (low, high):
        read({**env, variable: str(inside)})
    for outside in (low - 1, high + 1):
        with pytest.raises(ConfigError, match=variable):
            read({**env, variable: str(outside)})


def test_each_parameter_and_resource_reaches_the_functions_under_one_name() -> None:
    names: dict[str, set[str]] = defaultdict(set)
    for function in READERS:
        for name, value in _variables(function).items():
            if isinstance(value, dict) and "Ref" in value:
                names[value["Ref"]].add(name)
    assert {ref: sorted(n) for ref, n in names.items() if len(n) > 1} == {}


def test_the_cli_defaults_are_the_templates() -> None:
    assert int(PARAMETERS["ThreadsPerWorker"]["Default"]) == DEFAULT_THREADS
