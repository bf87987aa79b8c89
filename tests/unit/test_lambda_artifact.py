"""The Lambda artifact check finds what must not ship and what a handler lacks."""

from __future__ import annotations

from pathlib import Path

from tools.lambda_artifact import check, forbidden_entries, runtime_dependencies

TEMPLATE = {
    "Globals": {"Function": {"Runtime": "python3.11", "Architectures": ["arm64"]}},
    "Resources": {
        "AppFunction": {"Type": "AWS::Serverless::Function", "Properties": {"Handler": "app.handler.main"}},
        "Queue": {"Type": "AWS::SQS::Queue"},
    },
}


def _artifact(build_dir: Path, handler_source: str, *extra: str) -> Path:
    artifact = build_dir / "AppFunction"
    (artifact / "app").mkdir(parents=True)
    (artifact / "app" / "__init__.py").write_text("")
    (artifact / "app" / "handler.py").write_text(handler_source)
    for name in extra:
        (artifact / name).mkdir()
    return artifact


def test_an_artifact_of_lambda_code_and_what_it_imports_passes(tmp_path: Path) -> None:
    _artifact(tmp_path, "import json\n")
    assert check(tmp_path, TEMPLATE) == []


def test_the_cli_the_emulator_bench_and_tests_never_ship(tmp_path: Path) -> None:
    artifact = _artifact(tmp_path, "", "infra", "bench", "tests", "fanout-0.1.0.dist-info")
    assert forbidden_entries(artifact) == ["infra", "bench", "tests", "fanout-0.1.0.dist-info"]
    assert "AppFunction: ships infra" in check(tmp_path, TEMPLATE)


def test_a_handler_importing_what_the_artifact_lacks_fails_even_if_this_environment_has_it(
    tmp_path: Path,
) -> None:
    # GIVEN a handler that imports PyYAML, installed here (the local stack's) but not in the artifact
    _artifact(tmp_path, "import yaml\n")
    # THEN the check names the function, the handler and what is missing
    (problem,) = check(tmp_path, TEMPLATE)
    assert problem.startswith("AppFunction: app.handler.main does not import from the artifact alone")
    assert "No module named 'yaml'" in problem


def test_a_template_for_another_runtime_or_platform_than_the_wheels_is_a_problem(tmp_path: Path) -> None:
    _artifact(tmp_path, "")
    other = {**TEMPLATE, "Globals": {"Function": {"Runtime": "python3.12", "Architectures": ["x86_64"]}}}
    assert len(check(tmp_path, other)) == 2


def test_the_runtime_dependencies_are_pyprojects_own() -> None:
    assert {d.split(">")[0] for d in runtime_dependencies()} == {"boto3", "requests", "aws-lambda-powertools"}
