"""The guard every patch of moto (and the werkzeug server under it) goes through.

A patch replaces a name inside moto, which moto does not promise to keep. A moto release that
renames it, or changes its parameters, would leave the patch replacing nothing (or the wrong
thing) and the emulator drifting from AWS in ways no error points at. So a patch takes what it
replaces through `original`, which checks the name and its parameters first and otherwise
raises one error naming the patch and the moto version; moto is pinned exactly in
pyproject.toml, and a new pin means reading each patch against the new moto.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from fanout.errors import FanoutError

# What `install` put in place, by identity: applying a patch twice in one process (the emulator
# applies once; in-process tests may apply again) leaves the first replacement as it is.
_installed: list[object] = []


class MotoPatchError(FanoutError):
    """moto no longer has what an emulator patch replaces, in the shape the patch was written for."""


def moto_version() -> str:
    return version("moto")


def original(patch: str, owner: Any, name: str, parameters: Sequence[str] | None = None) -> Any:
    """`owner.name` as the patch found it, after checking it is what the patch was written for.

    `parameters` are the names of its parameters, in order (for a property, its getter's);
    None when it is not called (a class, a module).
    """
    where = f"{getattr(owner, '__name__', type(owner).__name__)}.{name}"
    if getattr(owner, name, None) is None:
        raise MotoPatchError(f"emulator patch {patch}: moto {moto_version()} has no {where}")
    value = inspect.getattr_static(owner, name)
    if parameters is not None and not is_installed(value):
        function: Any = value.fget if isinstance(value, property) else getattr(owner, name)
        found = tuple(inspect.signature(function).parameters)
        if found != tuple(parameters):
            raise MotoPatchError(
                f"emulator patch {patch}: moto {moto_version()} has {where}({', '.join(found)}),"
                f" the patch expects {where}({', '.join(parameters)})"
            )
    return getattr(owner, name)


def has_attributes(patch: str, instance: object, names: Sequence[str]) -> None:
    """Checks attributes a patch reads from instances moto creates (not on their class)."""
    missing = [name for name in names if not hasattr(instance, name)]
    if missing:
        where = type(instance).__name__
        raise MotoPatchError(
            f"emulator patch {patch}: moto {moto_version()}'s {where} has no {', '.join(missing)}"
        )


def install(owner: Any, name: str, replacement: object) -> None:
    """Puts the replacement in place, unless a patch already replaced `owner.name`."""
    if is_installed(inspect.getattr_static(owner, name, None)):
        return
    _installed.append(replacement)
    setattr(owner, name, replacement)


def is_installed(value: object) -> bool:
    return any(value is replacement for replacement in _installed)
