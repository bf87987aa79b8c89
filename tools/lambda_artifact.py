"""The Lambda functions' artifact: their packages and runtime dependencies, nothing else.

`sam build` calls `build` through the Makefile for each function; `make check-template` calls
`check` on what it built. Run with the system Python (sam build does): standard library only.

    python tools/lambda_artifact.py build ARTIFACTS_DIR
    python tools/lambda_artifact.py check .aws-sam/build
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# What the handlers import (the Lambda code); `check` proves it is enough by importing each
# handler from the artifact alone. The CLI, the local stack, bench/ and tests/ never ship.
LAMBDA_PACKAGES = ("fanout", "splitter", "worker")
NEVER_SHIPPED = ("infra", "bench", "tests", "tools")

# Wheels for the functions' platform: template.yaml's Globals say arm64 and python3.11
# (`check` compares them with the template).
LAMBDA_RUNTIME = "python3.11"
LAMBDA_ARCHITECTURE = "arm64"
PIP_PLATFORM = [
    "--platform",
    "manylinux2014_aarch64",
    "--implementation",
    "cp",
    "--python-version",
    LAMBDA_RUNTIME.removeprefix("python"),
    "--only-binary=:all:",
]


class ArtifactError(Exception):
    """An artifact holds what it must not, or lacks what a handler imports."""


def runtime_dependencies(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """pyproject.toml's `[project] dependencies`: the one list of what the functions need."""
    with pyproject.open("rb") as handle:
        return list(tomllib.load(handle)["project"]["dependencies"])


def build(artifacts_dir: Path) -> None:
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", *PIP_PLATFORM]
    subprocess.run([*pip, "--target", str(artifacts_dir), *runtime_dependencies()], check=True)
    for package in LAMBDA_PACKAGES:
        target = artifacts_dir / package
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(ROOT / package, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def forbidden_entries(artifact: Path) -> list[str]:
    """Top-level entries of an artifact that are not Lambda code: our other packages, the
    project's own wheel metadata."""
    found = [name for name in NEVER_SHIPPED if (artifact / name).exists()]
    found += sorted(p.name for p in artifact.glob("fanout-*.dist-info"))
    return found


def handler_imports(artifact: Path, handler: str) -> str:
    """Imports a handler's module in an interpreter that sees only the standard library and the
    artifact (-S: no site-packages, -E: no PYTHONPATH); its error output, empty when it worked."""
    module = handler.rpartition(".")[0]
    code = f"import sys; sys.path.insert(0, {str(artifact)!r}); import {module}"
    result = subprocess.run(
        [sys.executable, "-S", "-E", "-c", code], cwd=artifact, capture_output=True, text=True, check=False
    )
    return "" if result.returncode == 0 else result.stderr.strip().splitlines()[-1]


def check(build_dir: Path, template: dict[str, Any]) -> list[str]:
    """Every problem with the built functions, one line each."""
    problems: list[str] = []
    resources = template["Resources"]
    function_globals = template.get("Globals", {}).get("Function", {})
    if function_globals.get("Runtime") != LAMBDA_RUNTIME:
        problems.append(f"template Globals Runtime is not {LAMBDA_RUNTIME}, the wheels' Python")
    if function_globals.get("Architectures") != [LAMBDA_ARCHITECTURE]:
        problems.append(f"template Globals Architectures is not [{LAMBDA_ARCHITECTURE}], the wheels'")
    functions = {k: v for k, v in resources.items() if v.get("Type") == "AWS::Serverless::Function"}
    for name, resource in sorted(functions.items()):
        artifact = build_dir / name
        if not artifact.is_dir():
            problems.append(f"{name}: no artifact at {artifact}")
            continue
        problems += [f"{name}: ships {entry}" for entry in forbidden_entries(artifact)]
        handler = resource["Properties"]["Handler"]
        if error := handler_imports(artifact, handler):
            problems.append(f"{name}: {handler} does not import from the artifact alone: {error}")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "build":
        build(Path(argv[1]))
        return 0
    if len(argv) == 2 and argv[0] == "check":
        # The template reader needs PyYAML: the check runs in the project's environment.
        from infra.local.template import load_template

        problems = check(Path(argv[1]), load_template())
        for problem in problems:
            print(f"lambda artifact: {problem}", file=sys.stderr)
        if not problems:
            print(f"lambda artifacts: {', '.join(LAMBDA_PACKAGES)} and their dependencies only")
        return 1 if problems else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
