"""`--secret NAME=@FILE` / `NAME=env:VAR`: the request spec's secrets, put into the emulator's
Secrets Manager where the worker looks for them (the template's SECRETS_PREFIX, `<stack>/NAME`).

A value is read from a file or a variable, never from the command line (argv is visible to
every user of the machine), and goes to the emulator only: not into the functions' environment,
not into a log line or an error message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from fanout.auth_spec import SECRET_NAME
from fanout.errors import ConfigError, InputError

if TYPE_CHECKING:
    import boto3

    from infra.local.stack import LocalStack

SECRETS_PREFIX_SETTING = "SECRETS_PREFIX"


def read_secret_flag(text: str) -> tuple[str, str]:
    """NAME and the value from `NAME=@FILE` or `NAME=env:VAR`; an InputError names what is wrong."""
    name, sep, source = text.partition("=")
    if not sep or not name:
        raise InputError(f"--secret {text.partition('=')[0]!r}: expected NAME=@FILE or NAME=env:VAR")
    if not SECRET_NAME.fullmatch(name):
        raise InputError(f"--secret {name!r}: a secret name is letters, digits and /_+=.@-")
    if source.startswith("@"):
        value = _from_file(name, Path(source[1:]))
    elif source.startswith("env:"):
        variable = source[4:]
        if variable not in os.environ:
            raise InputError(f"--secret {name}: environment variable {variable!r} is not set")
        value = os.environ[variable]
    else:
        # Deliberately not echoed: it may be the value itself.
        raise InputError(f"--secret {name}: give the value as @FILE or env:VAR, never on the command line")
    value = value.strip()
    if not value:
        raise InputError(f"--secret {name}: the value is empty")
    return name, value


def _from_file(name: str, path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--secret {name}: cannot read {path}: {type(exc).__name__}") from None


def secrets_prefix(stack: LocalStack) -> str:
    """Where the stack's functions look for the spec's secrets (the template decides)."""
    for function in stack.functions.values():
        if SECRETS_PREFIX_SETTING in function.environment:
            return function.environment[SECRETS_PREFIX_SETTING]
    raise ConfigError(f"template: no function has {SECRETS_PREFIX_SETTING}")


def put_secrets(session: boto3.Session, stack: LocalStack, secrets: Mapping[str, str]) -> None:
    client = session.client("secretsmanager")
    prefix = secrets_prefix(stack)
    for name, value in secrets.items():
        client.create_secret(Name=prefix + name, SecretString=value)
